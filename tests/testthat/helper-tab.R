# A survey-like data set for the table tests.
sim_tab_data <- function(n, seed = 1) {
  set.seed(seed)
  d <- data.frame(
    region = factor(sample(c("North", "East", "South", "West", "Island"), n, TRUE,
                           prob = c(0.3, 0.2, 0.3, 0.2, 0)),
                    levels = c("North", "East", "South", "West", "Island")),
    sex = sample(c("f", "m"), n, TRUE),
    age = sample(c(1L, 2L, 3L), n, TRUE),
    smoker = sample(c(TRUE, FALSE), n, TRUE, prob = c(0.3, 0.7)),
    w = stats::rexp(n) + 0.1,
    stringsAsFactors = FALSE
  )
  # multiple response, dichotomies: three brands, some respondents not asked
  d$b1 <- stats::runif(n) < 0.5
  d$b2 <- stats::runif(n) < 0.3
  d$b3 <- stats::runif(n) < 0.2
  na <- sample(n, max(1, n %/% 20))
  d$b1[na] <- NA; d$b2[na] <- NA; d$b3[na] <- NA
  # multiple response, categories: up to two mentions of codes 1..4
  d$m1 <- sample(c(1:4, NA), n, TRUE)
  d$m2 <- ifelse(stats::runif(n) < 0.5, sample(1:4, n, TRUE), NA)
  d
}

cells_of <- function(t, row_var = NULL, col_var = NULL) {
  df <- as.data.frame(t, stringsAsFactors = FALSE)
  if (!is.null(row_var)) df <- df[df$row_var == row_var, , drop = FALSE]
  if (!is.null(col_var)) df <- df[df$col_var == col_var, , drop = FALSE]
  df
}
