# Reference values of metafor's regtest (Egger's regression test for funnel plot
# asymmetry) for bayes_hte.comparators.regtest, written as JSON to
# tests/data/metafor_regtest.json (read by tests/comparators/test_regtest.py; the tests
# never call R).
#
# Data: the BCG vaccine trials (metafor's dat.bcg), log risk ratios from escalc.
#
# Run from the repository root:  Rscript validation/metafor_regtest.R
# Needs R with metafor and jsonlite (Debian: r-cran-metafor, r-cran-jsonlite). The
# committed file was written with R 4.2.2, metafor 3.8-1. Numbers have 12 significant
# digits.
suppressMessages({
  library(metafor)
  library(jsonlite)
})

out_dir <- file.path("tests", "data")
if (!dir.exists(out_dir)) stop("run from the repository root (tests/data not found)")

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

out <- list(
  source = sprintf("R %s.%s, metafor %s; written by validation/metafor_regtest.R",
                   R.version$major, R.version$minor, as.character(packageVersion("metafor"))),
  call = "regtest(rma(yi, vi, data = escalc('RR', BCG), method = m, test = t), model = mo, predictor = p)",
  yi = as.numeric(dat$yi),
  vi = as.numeric(dat$vi),
  fits = fits
)
path <- file.path(out_dir, "metafor_regtest.json")
write_json(out, path, auto_unbox = TRUE, digits = I(12), pretty = TRUE, na = "null")
cat("wrote", path, "\n")
