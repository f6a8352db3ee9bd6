# The KI-in-Kommunen data: the frame of German local authorities.

test_that("the frame datasets hold the documented real totals", {
  expect_identical(sum(kik_gemeinden$n_gemeinden), 10773L)
  expect_identical(sum(as.numeric(kik_gemeinden$einwohner)), 84353660)
  expect_identical(nrow(kik_kreise), 400L)
  expect_identical(sum(kik_kreise$kreisfrei), 106L)
  expect_identical(sum(as.numeric(kik_kreise$einwohner)), 84353660)
})
