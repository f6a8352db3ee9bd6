library(testthat)
library(umfrage)

test_check("umfrage")
