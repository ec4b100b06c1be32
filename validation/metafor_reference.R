# Reference numbers for tests/comparators/test_univariate.py and tests/data/test_aggregate.py.
# Run: Rscript validation/metafor_reference.R   (R 4.2, metafor 3.8-1)
# Prints Python literals that are pasted into the tests (with this file named as source).
suppressMessages(library(metafor))
p <- function(x) paste0("[", paste(sprintf("%.12g", x), collapse = ", "), "]")
dat <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
cat("BCG_RR_YI =", p(dat$yi), "\n")
cat("BCG_RR_VI =", p(dat$vi), "\n")
for (m in c("OR", "RD")) {
  d <- escalc(measure = m, ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
  cat(sprintf("BCG_%s_YI =", m), p(d$yi), "\n")
  cat(sprintf("BCG_%s_VI =", m), p(d$vi), "\n")
}
tight <- list(threshold = 1e-12, tol = 1e-12, maxiter = 1000)
cat("METAFOR = {\n")
for (m in c("FE", "DL", "REML", "ML", "PM")) {
  for (test in c("z", "knha")) {
    fit <- suppressWarnings(rma(yi, vi, data = dat, method = m, test = test, control = tight))
    pr <- predict(fit)
    # FE models have no prediction interval in metafor: tau^2 = 0, so it equals the CI
    if (is.null(pr$pi.lb)) { pr$pi.lb <- pr$ci.lb; pr$pi.ub <- pr$ci.ub }
    ci <- if (m == "FE") c(NA, NA) else {
      cf <- confint(fit, control = list(tol = 1e-12, maxiter = 1000))$random
      cf["tau^2", 2:3]
    }
    cat(sprintf('    ("%s", %s): dict(estimate=%.12g, se=%.12g, stat=%.12g, p=%.12g, ci=(%.12g, %.12g), pi=(%.12g, %.12g), tau2=%.12g, i2=%.12g, h2=%.12g, q=%.12g, q_p=%.12g, tau2_ci=(%.12g, %.12g)),\n',
                m, if (test == "knha") "True" else "False", fit$b[1], fit$se, fit$zval, fit$pval,
                fit$ci.lb, fit$ci.ub, pr$pi.lb, pr$pi.ub, fit$tau2, fit$I2, fit$H2, fit$QE, fit$QEp,
                ci[1], ci[2]))
  }
}
cat("}\n")
# log OR and RD, REML and DL (escalc defaults)
cat("METAFOR_OTHER = {\n")
for (meas in c("OR", "RD")) {
  d <- escalc(measure = meas, ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
  for (m in c("DL", "REML")) {
    fit <- rma(yi, vi, data = d, method = m, control = tight)
    cat(sprintf('    ("%s", "%s"): dict(estimate=%.12g, se=%.12g, tau2=%.12g, i2=%.12g, q=%.12g),\n',
                meas, m, fit$b[1], fit$se, fit$tau2, fit$I2, fit$QE))
  }
}
cat("}\n")
# a made-up table with zero cells (continuity correction add=1/2, to="only0")
z <- data.frame(ai = c(0, 2, 1, 5, 10), bi = c(20, 48, 99, 45, 0),
                ci = c(3, 0, 4, 9, 8), di = c(17, 50, 96, 41, 2))
for (m in c("RR", "OR", "RD")) {
  d <- escalc(measure = m, ai = ai, bi = bi, ci = ci, di = di, data = z)
  cat(sprintf("ZERO_%s_YI =", m), p(d$yi), "\n")
  cat(sprintf("ZERO_%s_VI =", m), p(d$vi), "\n")
}
# homogeneous data: tau2 = 0 for every estimator; Q-profile CI lower bound 0
# small homogeneous-ish data sets: tau2 truncated at 0, Q-profile bounds at 0
cat("SMALL = {\n")
sets <- list(a = list(yi = c(0.1, 0.3, -0.1, 0.25, 0.05), vi = c(0.04, 0.05, 0.03, 0.06, 0.04)),
             b = list(yi = c(0.1, 0.12, 0.09, 0.11, 0.1), vi = c(0.01, 0.02, 0.015, 0.01, 0.03)),
             c = list(yi = c(0.5, -0.4, 0.9, 0.1, -0.3, 1.2), vi = c(0.02, 0.05, 0.03, 0.1, 0.04, 0.2)))
for (nm in names(sets)) {
  s <- sets[[nm]]
  for (m in c("DL", "REML", "ML", "PM")) {
    fit <- rma(s$yi, s$vi, method = m, control = tight)
    cf <- confint(fit, control = list(tol = 1e-12, maxiter = 1000))$random
    pr <- predict(fit)
    cat(sprintf('    ("%s", "%s"): dict(estimate=%.12g, se=%.12g, tau2=%.12g, i2=%.12g, h2=%.12g, q=%.12g, pi=(%.12g, %.12g), tau2_ci=(%.12g, %.12g), i2_ci=(%.12g, %.12g)),\n',
                nm, m, fit$b[1], fit$se, fit$tau2, fit$I2, fit$H2, fit$QE, pr$pi.lb, pr$pi.ub,
                cf["tau^2", 2], cf["tau^2", 3], cf["I^2(%)", 2], cf["I^2(%)", 3]))
  }
}
cat("}\n")
