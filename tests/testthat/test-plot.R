# plot() and autoplot(): what is drawn is the table's percents and
# intervals (checked against base R and survey), in Okabe-Ito fills, with
# the legend outside the bars, wrapped labels and the locale's numbers.

# Draw `expr` on a null device with a display list; return the value and
# the recorded graphics calls (routine name and arguments).
record_plot <- function(expr) {
  grDevices::pdf(NULL, width = 8, height = 5)
  on.exit(grDevices::dev.off(), add = TRUE)
  grDevices::dev.control("enable")
  val <- force(expr)
  usr <- graphics::par("usr")
  rec <- grDevices::recordPlot()[[1L]]
  calls <- lapply(rec, function(e) {
    a <- as.list(e[[2L]])
    list(name = a[[1L]]$name, args = a[-1L])
  })
  list(value = val, calls = calls, usr = usr)
}
drawn <- function(r, name) Filter(function(cl) identical(cl$name, name), r$calls)
drawn_text <- function(r) {
  do.call(rbind, lapply(drawn(r, "C_text"), function(cl) {
    xy <- cl$args[[1L]]
    data.frame(x = xy$x, y = xy$y, label = as.character(cl$args[[2L]]), stringsAsFactors = FALSE)
  }))
}
luminance <- function(cols) {
  v <- grDevices::col2rgb(cols) / 255
  v <- ifelse(v <= 0.03928, v / 12.92, ((v + 0.055) / 1.055)^2.4)
  colSums(v * c(0.2126, 0.7152, 0.0722))
}
plot_quiet <- function(...) {
  grDevices::pdf(NULL)
  on.exit(grDevices::dev.off())
  plot(...)
}

okabe_ito_ref <- function() toupper(unname(grDevices::palette.colors(NULL, "Okabe-Ito")))
nbsp <- "\u00a0"

test_that("plot() draws the table's percents with their confidence intervals", {
  skip_if_not_installed("survey")
  d <- sim_tab_data(400, seed = 21)
  t <- tab(d, "region", cols = "sex", weights = "w")
  r <- record_plot(plot(t))
  p <- r$value
  expect_s3_class(p, "data.frame")
  # values: weighted column percents, from base R
  ref <- 100 * prop.table(xtabs(w ~ region + sex, d), 2L)
  expect_equal(p$value, ref[cbind(as.character(p$row), as.character(p$col))], tolerance = 1e-10)
  expect_equal(levels(p$row), levels(d$region))
  expect_equal(levels(p$col), c("f", "m"))
  # intervals: survey::svyciprop(method = "logit") on the column's domain
  for (k in seq_len(nlevels(d$region))) d[[paste0("ind", k)]] <- as.numeric(as.integer(d$region) == k)
  des <- survey::svydesign(ids = ~1, weights = ~w, data = d)
  for (m in which(p$value > 0)) {
    dom <- subset(des, sex == as.character(p$col[m]))
    f <- stats::as.formula(paste0("~ind", as.integer(p$row[m])))
    ci <- attr(survey::svyciprop(f, dom, method = "logit"), "ci")
    expect_equal(c(p$ci_low[m], p$ci_high[m]), 100 * unname(ci), tolerance = 1e-6)
  }
  # and exactly the long form's
  lf <- as.data.frame(t)
  lf <- lf[lf$col_var == "sex", ]
  k <- match(paste(p$row, p$col), paste(lf$row, lf$col))
  expect_equal(p[c("value", "ci_low", "ci_high")], lf[k, c("pct", "ci_low", "ci_high")],
               ignore_attr = TRUE)
  # the error bars drawn (a white halo, then the bar) are these intervals,
  # at the bars' midpoints; none where the interval is NA
  arr <- drawn(r, "C_arrows")
  expect_length(arr, 2L)
  ok <- !is.na(p$ci_low)
  for (a in arr) {
    expect_equal(a$args[[1L]], p$x[ok])
    expect_equal(a$args[[2L]], p$ci_low[ok])
    expect_equal(a$args[[4L]], p$ci_high[ok])
  }
  # the bars' tops are the values
  rects <- drawn(r, "C_rect")
  tops <- unlist(lapply(rects, function(cl) if (!all(is.na(cl$args[[5L]]))) cl$args[[4L]]))
  expect_true(all(vapply(p$value[!is.na(p$value)], function(v) any(abs(tops - v) < 1e-9), NA)))
})

test_that("one-way, Total and stacked plots return what they draw", {
  d <- sim_tab_data(300, seed = 22)
  grDevices::pdf(NULL)
  on.exit(grDevices::dev.off(), add = TRUE)
  p1 <- plot(tab(d, "region"))
  expect_equal(p1$value, as.vector(100 * prop.table(table(d$region))))
  expect_equal(nrow(p1), nlevels(d$region))
  t <- tab(d, "region", cols = "smoker", weights = "w")
  p0 <- plot(t, col_var = 0)
  expect_equal(p0$value, as.vector(100 * prop.table(xtabs(w ~ region, d))), tolerance = 1e-10)
  ps <- plot(t, stacked = TRUE)
  # stacked: no intervals; one bar position per column
  expect_true(all(is.na(ps$ci_low)) && all(is.na(ps$ci_high)))
  expect_equal(as.vector(tapply(ps$x, ps$col, function(v) length(unique(v)))), c(1L, 1L))
  expect_equal(as.vector(tapply(ps$value, ps$col, sum)), c(100, 100))
  # horizontal: the same data; the first level is on top
  ph <- plot(t, horiz = TRUE)
  expect_equal(ph$value, plot(t)$value)
  expect_true(all(diff(ph$x[ph$col == "TRUE"]) < 0))
  # ci = FALSE and ci = "none" tables draw no intervals
  expect_true(all(is.na(plot(t, ci = FALSE)$ci_low)))
  expect_true(all(is.na(plot(tab(d, "region", cols = "sex", ci = "none"))$ci_low)))
  # counts with percent = "none"
  pn <- plot(tab(d, "region", cols = "sex", percent = "none"))
  expect_equal(pn$value, as.vector(table(d$region, d$sex)[cbind(as.character(pn$row), as.character(pn$col))]))
  expect_true(all(is.na(pn$ci_low)))
})

test_that("the fills are Okabe-Ito, none near white", {
  d <- sim_tab_data(300, seed = 23)
  t <- tab(d, "region", cols = "sex")
  r <- record_plot(plot(t))
  fills <- unique(unlist(lapply(drawn(r, "C_rect"), function(cl) cl$args[[5L]])))
  fills <- toupper(grDevices::rgb(t(grDevices::col2rgb(fills[!is.na(fills)])), maxColorValue = 255))
  expect_length(fills, nlevels(d$region))
  expect_true(all(fills %in% okabe_ito_ref()))
  expect_true(all(luminance(fills) < 0.9))
  expect_equal(toupper(r$value$fill), toupper(rep(fills[match(unique(toupper(r$value$fill)), fills)], 2)))
  # the palette for any number of levels: distinct, never near white
  pal <- umfrage:::plot_palette
  expect_true(all(toupper(pal(9)) %in% okabe_ito_ref()))
  expect_false(anyDuplicated(pal(9)) > 0L)
  for (n in c(1, 5, 9, 15)) expect_true(all(luminance(pal(n)) < 0.9))
})

test_that("the legend is outside the bars, the parameters are restored", {
  d <- sim_tab_data(300, seed = 24)
  t <- tab(d, "region", cols = "sex")
  for (where in c("bottom", "right")) {
    r <- record_plot(plot(t, legend = where))
    tx <- drawn_text(r)
    lg <- tx[tx$label %in% levels(d$region), ]
    expect_equal(nrow(lg), nlevels(d$region))
    usr <- r$usr
    outside <- lg$y < usr[3L] | lg$y > usr[4L] | lg$x < usr[1L] | lg$x > usr[2L]
    expect_true(all(outside))
    if (where == "bottom") expect_true(all(lg$y < usr[3L])) else expect_true(all(lg$x > usr[2L]))
  }
  # the legend names the interval's level
  expect_true("95% CI" %in% tx$label)
  grDevices::pdf(NULL)
  on.exit(grDevices::dev.off(), add = TRUE)
  mar <- graphics::par("mar")
  plot(t)
  expect_equal(graphics::par("mar"), mar)
})

test_that("plot() speaks the locale: decimal comma, thousands dot, German words", {
  d <- sim_tab_data(300, seed = 25)
  t <- tab(d, "region", cols = "sex", weights = "w")
  r <- record_plot(plot(t, locale = "de", ylim = c(0, 2.5)))
  ax <- attr(r$value, "axis")
  expect_equal(ax$at, seq(0, 2.5, by = 0.5))
  expect_equal(ax$label, paste0(sub(".", ",", sprintf("%.1f", ax$at), fixed = TRUE), nbsp, "%"))
  tx <- drawn_text(r)$label
  expect_true(all(ax$label %in% tx))
  expect_true("Spalten-%" %in% tx)
  expect_true(paste0("95-%-Konfidenzintervall") %in% tx)
  en <- record_plot(plot(t, locale = "en", ylim = c(0, 2.5)))
  expect_true(all(c("0.5%", "2.5%", "column %") %in% drawn_text(en)$label))
  # counts: the thousands mark
  d$w2 <- d$w * 100
  tn <- tab(d, "region", cols = "sex", weights = "w2", percent = "none")
  pn <- record_plot(plot(tn, locale = "de"))
  ax <- attr(pn$value, "axis")
  big <- ax$at[ax$at >= 1000]
  expect_true(length(big) > 0L)
  expect_equal(ax$label[ax$at >= 1000], chartr(",", ".", formatC(big, format = "d", big.mark = ",")))
  expect_true("gewichtete Anzahl" %in% drawn_text(pn)$label)
  # the default follows OutDec (also when the table was made under it)
  op <- options(OutDec = ",", umfrage.locale = NULL)
  on.exit(options(op), add = TRUE)
  t2 <- tab(d, "region", cols = "sex", weights = "w")
  r2 <- record_plot(plot(t2, ylim = c(0, 2.5)))
  expect_true(paste0("0,5", nbsp, "%") %in% attr(r2$value, "axis")$label)
  # the label maker itself
  lab <- umfrage:::plot_axis_labels
  expect_equal(lab(c(0, 12.5, 25), tab_locale("de")), paste0(c("0,0", "12,5", "25,0"), nbsp, "%"))
  expect_equal(lab(c(0, 1500), tab_locale("de"), percent = FALSE), c("0", "1.500"))
  expect_equal(lab(c(0, 1500), tab_locale("en"), percent = FALSE), c("0", "1,500"))
})

test_that("long labels are wrapped to fit, or to 'wrap' characters", {
  set.seed(26)
  long <- c("Neither satisfied nor dissatisfied with the service",
            "Very satisfied with everything they offered", "No")
  d <- data.frame(q = factor(sample(long, 200, TRUE), levels = long),
                  g = sample(c("a group with a long name", "b"), 200, TRUE))
  t <- tab(d, "q")
  r <- record_plot(plot(t))
  lab <- attr(r$value, "labels")
  expect_equal(gsub("\n", " ", lab), long)
  expect_true(any(grepl("\n", lab[1:2])))
  # drawn as wrapped, each line no wider than its share of the plot
  tx <- drawn_text(r)
  expect_true(all(lab %in% tx$label))
  lab10 <- attr(plot_quiet(t, wrap = 10), "labels")
  lines <- unlist(strsplit(lab10, "\n"))
  expect_true(all(nchar(lines) <= 10 | !grepl(" ", lines)))
  expect_equal(gsub("\n", " ", lab10), long)
  # horizontal bars wrap the labels at the left too
  rh <- record_plot(plot(tab(d, "q", cols = "g"), horiz = TRUE))
  expect_equal(gsub("\n", " ", attr(rh$value, "labels")), c("a group with a long name", "b"))
})

test_that("columns below the small-base threshold are flagged", {
  set.seed(27)
  d <- data.frame(a = sample(c("x", "y"), 120, TRUE),
                  g = c(rep("big", 100), rep("small", 20)))
  t <- tab(d, "a", cols = "g")
  r <- record_plot(plot(t))
  p <- r$value
  # the unweighted column bases, from base R
  expect_equal(p$base_n, as.vector(table(d$g)[as.character(p$col)]))
  expect_equal(p$small, p$base_n < 30)
  expect_equal(attr(p, "labels"), c("big", "small*"))
  expect_true("* base below 30" %in% drawn_text(r)$label)
  # the table's min_base (when set) decides
  t$options$min_base <- 10
  expect_false(any(plot_quiet(t)$small))
  t$options$min_base <- 500
  r <- record_plot(plot(t))
  expect_true(all(r$value$small))
  expect_true("a*" %in% drawn_text(r)$label)
})

test_that("plot() keeps its arguments: layers, variables, barplot's ...", {
  d <- sim_tab_data(300, seed = 28)
  t <- tab(d, "region", cols = c("sex", "smoker"), by = "age", weights = "w")
  lf <- as.data.frame(t)
  p2 <- plot_quiet(t, col_var = "smoker", layer = 2)
  ref <- lf[lf$col_var == "smoker" & lf$age == "2", ]
  expect_equal(p2$value, ref$pct[match(paste(p2$row, p2$col), paste(ref$row, ref$col))])
  expect_equal(plot_quiet(t, col_var = 2, layer = "age = 2")$value, p2$value)
  expect_equal(plot_quiet(t, col_var = 2, layer = "2")$value, p2$value)
  expect_error(plot_quiet(t, layer = 4), "'layer' must be a number from 1 to 3")
  expect_error(plot_quiet(t, layer = "age = 9"), "'layer' must be a number from 1 to 3")
  expect_error(plot_quiet(t, legend = "inside"), "'arg' should be one of")
  # ... overrides the defaults
  r <- record_plot(plot(t, xlab = "Region", ylab = "Anteil", las = 2, names.arg = c("S", "M")))
  tx <- drawn_text(r)$label
  expect_true(all(c("Region", "Anteil", "S", "M") %in% tx))
  expect_false("column %" %in% tx)
  r <- record_plot(plot(t, legend.text = FALSE, main = "Titel"))
  tx <- drawn_text(r)$label
  expect_false(any(levels(d$region) %in% tx))
  expect_true("Titel" %in% tx)
})

test_that("autoplot() draws the long form's percents and intervals", {
  skip_if_not_installed("ggplot2")
  d <- sim_tab_data(400, seed = 29)
  t <- tab(d, "region", cols = "sex", by = "age", weights = "w")
  g <- ggplot2::autoplot(t)
  expect_s3_class(g, "ggplot")
  lf <- as.data.frame(t)
  lf <- lf[lf$col_var == "sex", ]
  pal <- umfrage:::plot_palette(nlevels(d$region))
  bars <- ggplot2::layer_data(g, 1L)
  key <- function(ld) paste(levels(d$region)[match(ld$fill, pal)], c("f", "m")[round(ld$x)],
                            c(1, 2, 3)[as.integer(ld$PANEL)])
  k <- match(key(bars), paste(lf$row, lf$col, lf$age))
  expect_false(anyNA(k))
  expect_equal(bars$y, lf$pct[k])
  expect_equal(length(unique(bars$PANEL)), 3L)
  # weighted column percents from base R, layer 1
  ref <- 100 * prop.table(xtabs(w ~ region + sex, d[d$age == 1, ]), 2L)
  b1 <- bars[bars$PANEL == 1, ]
  expect_equal(b1$y, ref[cbind(levels(d$region)[match(b1$fill, pal)], c("f", "m")[round(b1$x)])], tolerance = 1e-10)
  eb <- ggplot2::layer_data(g, 2L)
  eb <- eb[!is.na(eb$ymin), ]
  k <- match(paste(levels(d$region)[match(eb$fill, pal)], c("f", "m")[round(eb$x)],
                   c(1, 2, 3)[as.integer(eb$PANEL)]), paste(lf$row, lf$col, lf$age))
  expect_false(anyNA(k))
  expect_equal(eb$ymin, lf$ci_low[k])
  expect_equal(eb$ymax, lf$ci_high[k])
  expect_equal(sum(!is.na(lf$ci_low)), nrow(eb))
  # Okabe-Ito fills, the legend at the bottom, the locale's axis
  expect_true(all(toupper(unique(bars$fill)) %in% okabe_ito_ref()))
  expect_identical(ggplot2::ggplot_build(g)$plot$theme$legend.position, "bottom")
  gd <- ggplot2::autoplot(t, locale = "de")
  labs <- ggplot2::ggplot_build(gd)$layout$panel_params[[1L]]$y$get_labels()
  labs <- labs[!is.na(labs)]
  expect_true(all(endsWith(labs, paste0(nbsp, "%"))))
  expect_identical(gd$labels$y, "Spalten-%")
  # one-way: bars per row level
  g1 <- ggplot2::autoplot(tab(d, "region"))
  expect_equal(ggplot2::layer_data(g1, 1L)$y, as.vector(100 * prop.table(table(d$region))))
})
