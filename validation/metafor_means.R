# Reference values of metafor's escalc for two-group means (MD, SMD, ROM) and of rma on
# them, for bayes_hte.MeanTable, written as JSON to tests/data/metafor_means.json (read by
# tests/data/test_means.py; the tests never call R).
#
# Data: metafor's dat.normand1999 (length of hospital stay of stroke patients, specialist
# against routine care; Normand 1999, Stat Med 18:321): n1i, m1i, sd1i, n2i, m2i, sd2i.
#
# Run from the repository root:  Rscript validation/metafor_means.R
# Needs R with metafor and jsonlite (Debian: r-cran-metafor, r-cran-jsonlite). The
# committed file was written with R 4.2.2, metafor 3.8-1. Numbers have 12 significant
# digits.
suppressMessages({
  library(metafor)
  library(jsonlite)
})

out_dir <- file.path("tests", "data")
if (!dir.exists(out_dir)) stop("run from the repository root (tests/data not found)")

d <- dat.normand1999
effects <- list()
for (measure in c("MD", "SMD", "ROM")) {
  e <- escalc(measure, m1i = m1i, sd1i = sd1i, n1i = n1i, m2i = m2i, sd2i = sd2i,
              n2i = n2i, data = d)
  fit <- rma(yi, vi, data = e, method = "REML")
  effects[[measure]] <- list(
    call = sprintf("escalc('%s', m1i, sd1i, n1i, m2i, sd2i, n2i) with the defaults (vtype = 'LS')", measure),
    yi = as.numeric(e$yi), vi = as.numeric(e$vi),
    rma_reml = list(estimate = as.numeric(fit$beta), se = fit$se, tau2 = fit$tau2))
}

out <- list(
  source = sprintf("R %s.%s, metafor %s; written by validation/metafor_means.R",
                   R.version$major, R.version$minor, as.character(packageVersion("metafor"))),
  data = d[, c("study", "source", "n1i", "m1i", "sd1i", "n2i", "m2i", "sd2i")],
  effects = effects
)
path <- file.path(out_dir, "metafor_means.json")
write_json(out, path, auto_unbox = TRUE, digits = I(12), pretty = TRUE, na = "null")
cat("wrote", path, "\n")
