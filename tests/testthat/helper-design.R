# A stratified cluster sample with fpc and unequal weights, as data.
sim_design_data <- function(seed = 1, n_psu = 40, per_psu = 15) {
  set.seed(seed)
  H <- 4
  n <- n_psu * per_psu
  d <- data.frame(st = rep(seq_len(H), each = n / H))
  d$psu <- rep(seq_len(n_psu), each = per_psu)
  d$w <- stats::runif(n, 1, 3) * rep(c(10, 20, 15, 30), each = n / H)
  d$N <- rep(c(30, 40, 25, 50), each = n / H)
  # clustered outcomes: PSU effects make the design matter
  eff <- stats::rnorm(n_psu)[d$psu]
  d$y <- cut(eff + stats::rnorm(n), c(-Inf, -0.5, 0.6, Inf), labels = c("low", "mid", "high"))
  d$g <- ifelse(stats::runif(n) < stats::plogis(0.5 * eff), "x", "z")
  d$k <- sample(c("p", "q", "r", "s"), n, TRUE)
  d
}

rel_err <- function(a, b) max(abs(as.numeric(a) - as.numeric(b)) / pmax(abs(as.numeric(b)), 1e-12))
