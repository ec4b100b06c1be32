# Reference values of metafor's influence diagnostics (influence.rma.uni) for
# bayes_hte.comparators.influence, written as JSON to tests/data/metafor_influence.json
# (read by tests/comparators/test_sensitivity.py; the tests never call R).
#
# Data: the BCG vaccine trials (metafor's dat.bcg), log risk ratios from escalc, and the
# same with trial 8's log RR set to 2 (an outlier, so that a study is flagged).
#
# Run from the repository root:  Rscript validation/metafor_influence.R
# Needs R with metafor and jsonlite (Debian: r-cran-metafor, r-cran-jsonlite). The
# committed file was written with R 4.2.2, metafor 3.8-1. REML and ML are iterated to
# a relative 1e-10 (control = list(threshold = 1e-10)). Numbers have 12 significant
# digits.
suppressMessages({
  library(metafor)
  library(jsonlite)
})

out_dir <- file.path("tests", "data")
if (!dir.exists(out_dir)) stop("run from the repository root (tests/data not found)")

dat <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
outlier <- dat
outlier$yi[8] <- 2
settings <- list(
  list(data = "bcg", method = "REML", test = "z"),
  list(data = "bcg", method = "DL", test = "z"),
  list(data = "bcg", method = "FE", test = "z"),
  list(data = "bcg", method = "REML", test = "knha"),
  list(data = "outlier", method = "REML", test = "z")
)
fits <- lapply(settings, function(s) {
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

out <- list(
  source = sprintf("R %s.%s, metafor %s; written by validation/metafor_influence.R",
                   R.version$major, R.version$minor, as.character(packageVersion("metafor"))),
  call = "influence(rma(yi, vi, method = m, test = t, control = list(threshold = 1e-10)))",
  yi = list(bcg = as.numeric(dat$yi), outlier = as.numeric(outlier$yi)),
  vi = as.numeric(dat$vi),
  fits = fits
)
path <- file.path(out_dir, "metafor_influence.json")
write_json(out, path, auto_unbox = TRUE, digits = I(12), pretty = TRUE, na = "null")
cat("wrote", path, "\n")
