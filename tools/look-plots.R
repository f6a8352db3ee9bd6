# Render the plots of tab() results as PNGs to look at (English and German,
# grouped and stacked, one-way and banner, vertical and horizontal).
#
#   Rscript tools/look-plots.R [outdir]     (default /tmp/plot-look)
library(umfrage)
out <- commandArgs(trailingOnly = TRUE)
out <- if (length(out)) out[1L] else "/tmp/plot-look"
dir.create(out, showWarnings = FALSE, recursive = TRUE)
set.seed(13)
n <- 900
sat_lev <- c("Very satisfied", "Rather satisfied", "Neither satisfied nor dissatisfied",
             "Rather dissatisfied", "Very dissatisfied")
d <- data.frame(
  transport = factor(sample(sat_lev, n, TRUE, prob = c(0.15, 0.35, 0.25, 0.15, 0.10)), levels = sat_lev),
  age = factor(sample(c("18-29", "30-44", "45-59", "60 and older", "No answer"), n, TRUE,
                      prob = c(0.2, 0.27, 0.27, 0.24, 0.02)),
               levels = c("18-29", "30-44", "45-59", "60 and older", "No answer")),
  region = sample(c("North", "South"), n, TRUE),
  w = stats::rexp(n) + 0.2
)
attr(d$transport, "label") <- "Satisfaction with public transport in the municipality"
t1 <- tab(d, "transport", weights = "w")
t2 <- tab(d, "transport", cols = "age", weights = "w")
t3 <- tab(d, "transport", cols = "age", by = "region", weights = "w")
tn <- tab(d, "transport", cols = "age", weights = "w", percent = "none")
shot <- function(name, expr) {
  grDevices::png(file.path(out, paste0(name, ".png")), width = 1600, height = 1000, res = 200)
  on.exit(grDevices::dev.off())
  force(expr)
}
for (lang in c("en", "de")) {
  shot(paste0(lang, "-oneway"), plot(t1, locale = lang))
  shot(paste0(lang, "-oneway-horiz"), plot(t1, horiz = TRUE, locale = lang))
  shot(paste0(lang, "-banner-grouped"), plot(t2, locale = lang))
  shot(paste0(lang, "-banner-stacked"), plot(t2, stacked = TRUE, locale = lang))
  shot(paste0(lang, "-banner-horiz"), plot(t2, horiz = TRUE, locale = lang))
  shot(paste0(lang, "-banner-stacked-horiz"), plot(t2, stacked = TRUE, horiz = TRUE, locale = lang))
  shot(paste0(lang, "-banner-right"), plot(t2, legend = "right", locale = lang))
  shot(paste0(lang, "-layer2"), plot(t3, layer = 2, locale = lang))
  shot(paste0(lang, "-counts"), plot(tn, locale = lang))
}
d12 <- data.frame(party = factor(sample(paste("Party", LETTERS[1:12]), n, TRUE)),
                  sex = sample(c("female", "male"), n, TRUE),
                  b1 = stats::runif(n) < 0.4, b2 = stats::runif(n) < 0.2)
shot("en-12levels", plot(tab(d12, "party", cols = "sex")))
shot("en-mrset", plot(tab(d12, list(mr_set(d12, c("b1", "b2"), label = "Brands used")), cols = "sex"),
                      legend = "right"))
shot("en-mfrow", {
  op <- graphics::par(mfrow = c(1, 2))
  plot(t1)
  plot(t2, stacked = TRUE)
  graphics::par(op)
})
if (requireNamespace("ggplot2", quietly = TRUE)) {
  for (lang in c("en", "de")) {
    shot(paste0(lang, "-autoplot-banner"), print(ggplot2::autoplot(t3, locale = lang)))
    shot(paste0(lang, "-autoplot-oneway"), print(ggplot2::autoplot(t1, locale = lang)))
    shot(paste0(lang, "-autoplot-stacked"), print(ggplot2::autoplot(t2, stacked = TRUE, locale = lang)))
  }
}
cat("PNGs in", out, "\n")
