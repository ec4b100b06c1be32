# Reference values of metafor's diagnostics of a univariate meta-analysis, written as JSON
# (read by the tests; the tests never call R):
#   tests/data/metafor_regtest.json    regtest (Egger's regression test for funnel plot
#                                      asymmetry), for bayes_hte.comparators.regtest
#                                      (tests/comparators/test_regtest.py)
#   tests/data/metafor_influence.json  influence.rma.uni, for
#                                      bayes_hte.comparators.influence
#                                      (tests/comparators/test_sensitivity.py)
#   tests/data/metafor_trimfill.json   trimfill.rma.uni (Duval & Tweedie's trim and fill),
#                                      for bayes_hte.comparators.trim_and_fill
#                                      (tests/comparators/test_regtest.py)
#
# Data: the BCG vaccine trials (metafor's dat.bcg), log risk ratios from escalc; for the
# influence diagnostics also the same with trial 8's log RR set to 2 (an outlier, so that
# a study is flagged), with REML and ML iterated to a relative 1e-10; for trim and fill
# also metafor's dat.hackshaw1998 (37 studies of lung cancer and passive smoking, log odds
# ratios), whose funnel is asymmetric.
#
# Run from the repository root:  Rscript validation/metafor_diagnostics.R
# Needs R with metafor and jsonlite (Debian: r-cran-metafor, r-cran-jsonlite). The
# committed files were written with R 4.2.2, metafor 3.8-1. Numbers have 12 significant
# digits.
suppressMessages({
  library(metafor)
  library(jsonlite)
})

out_dir <- file.path("tests", "data")
if (!dir.exists(out_dir)) stop("run from the repository root (tests/data not found)")

write_ref <- function(name, call, ...) {
  out <- list(source = sprintf("R %s.%s, metafor %s; written by validation/metafor_diagnostics.R",
                               R.version$major, R.version$minor,
                               as.character(packageVersion("metafor"))),
              call = call, ...)
  path <- file.path(out_dir, name)
  write_json(out, path, auto_unbox = TRUE, digits = I(12), pretty = TRUE, na = "null")
  cat("wrote", path, "\n")
}

dat <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
settings <- list(
  list(method = "REML", test = "z", model = "rma", predictor = "sei"),
  list(method = "REML", test = "knha", model = "rma", predictor = "sei"),
  list(method = "DL", test = "z", model = "rma", predictor = "vi"),
  list(method = "FE", test = "z", model = "rma", predictor = "sei"),
  list(method = "REML", test = "z", model = "lm", predictor = "sei"),
  list(method = "REML", test = "z", model = "lm", predictor = "vi")
)
fits <- lapply(settings, function(s) {
  res <- rma(yi, vi, data = dat, method = s$method, test = s$test)
  rt <- regtest(res, model = s$model, predictor = s$predictor)
  c(s, list(zval = rt$zval, pval = rt$pval, dfs = if (is.null(rt$dfs)) NA else rt$dfs,
            est = rt$est, ci_lb = rt$ci.lb, ci_ub = rt$ci.ub))
})

write_ref("metafor_regtest.json",
          "regtest(rma(yi, vi, data = escalc('RR', BCG), method = m, test = t), model = mo, predictor = p)",
          yi = as.numeric(dat$yi), vi = as.numeric(dat$vi), fits = fits)

outlier <- dat
outlier$yi[8] <- 2
inf_settings <- list(
  list(data = "bcg", method = "REML", test = "z"),
  list(data = "bcg", method = "DL", test = "z"),
  list(data = "bcg", method = "FE", test = "z"),
  list(data = "bcg", method = "REML", test = "knha"),
  list(data = "outlier", method = "REML", test = "z")
)
fits <- lapply(inf_settings, function(s) {
  d <- if (s$data == "bcg") dat else outlier
  res <- rma(yi, vi, data = d, method = s$method, test = s$test,
             control = list(threshold = 1e-10))
  inf <- influence(res)
  tab <- inf$inf
  c(s, list(rstudent = tab$rstudent, dffits = tab$dffits, cook_d = tab$cook.d,
            cov_r = tab$cov.r, tau2_del = tab$tau2.del, q_del = tab$QE.del,
            hat = tab$hat, weight = tab$weight, dfbs = as.numeric(inf$dfbs$intrcpt),
            inf = as.logical(inf$is.infl)))
})

write_ref("metafor_influence.json",
          "influence(rma(yi, vi, method = m, test = t, control = list(threshold = 1e-10)))",
          yi = list(bcg = as.numeric(dat$yi), outlier = as.numeric(outlier$yi)),
          vi = as.numeric(dat$vi), fits = fits)

hack <- dat.hackshaw1998
tf_settings <- list(
  list(data = "bcg", method = "REML", estimator = "L0", side = NA),
  list(data = "hackshaw", method = "FE", estimator = "L0", side = NA),
  list(data = "hackshaw", method = "REML", estimator = "L0", side = NA),
  list(data = "hackshaw", method = "DL", estimator = "R0", side = NA),
  list(data = "hackshaw", method = "FE", estimator = "Q0", side = NA),
  list(data = "hackshaw", method = "FE", estimator = "L0", side = "right")
)
fits <- lapply(tf_settings, function(s) {
  d <- if (s$data == "bcg") dat else hack
  res <- rma(yi, vi, data = d, method = s$method, control = list(threshold = 1e-10))
  tf <- if (is.na(s$side)) trimfill(res, estimator = s$estimator) else
    trimfill(res, estimator = s$estimator, side = s$side)
  c(s, list(k0 = tf$k0, se_k0 = tf$se.k0, side_used = tf$side,
            estimate = as.numeric(tf$beta), se = tf$se, ci_lb = tf$ci.lb, ci_ub = tf$ci.ub,
            tau2 = tf$tau2, QE = tf$QE, yi_filled = as.numeric(tf$yi[tf$fill]),
            vi_filled = as.numeric(tf$vi[tf$fill])))
})
write_ref("metafor_trimfill.json",
          "trimfill(rma(yi, vi, method = m, control = list(threshold = 1e-10)), estimator = e[, side = s])",
          yi = list(bcg = as.numeric(dat$yi), hackshaw = as.numeric(hack$yi)),
          vi = list(bcg = as.numeric(dat$vi), hackshaw = as.numeric(hack$vi)), fits = fits)
