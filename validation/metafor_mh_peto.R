# Reference values of metafor's Mantel-Haenszel and Peto meta-analyses (rma.mh, rma.peto)
# for bayes_hte.comparators.mantel_haenszel and .peto, written as JSON to
# tests/data/metafor_mh_peto.json (read by tests/comparators/test_mantel_haenszel.py; the
# tests never call R).
#
# Data: the BCG vaccine trials (metafor's dat.bcg: tpos, tneg, cpos, cneg) and a made-up
# table with zero cells, one study with no events in either arm and one with only events
# in both, so that the corrections and the dropping of such studies show.
#
# Run from the repository root:  Rscript validation/metafor_mh_peto.R
# Needs R with metafor and jsonlite (Debian: r-cran-metafor, r-cran-jsonlite). The
# committed file was written with R 4.2.2, metafor 3.8-1. Numbers have 12 significant
# digits.
suppressMessages({
  library(metafor)
  library(jsonlite)
})

out_dir <- file.path("tests", "data")
if (!dir.exists(out_dir)) stop("run from the repository root (tests/data not found)")

bcg <- data.frame(ai = dat.bcg$tpos, bi = dat.bcg$tneg, ci = dat.bcg$cpos, di = dat.bcg$cneg)
zero <- data.frame(ai = c(0, 2, 1, 5, 10, 0, 12),
                   bi = c(20, 48, 99, 45, 0, 30, 0),
                   ci = c(3, 0, 4, 9, 8, 0, 15),
                   di = c(17, 50, 96, 41, 2, 30, 0))

fit_summary <- function(fit) {
  out <- list(estimate = as.numeric(fit$beta), se = fit$se, zval = fit$zval,
              pval = fit$pval, ci_lb = fit$ci.lb, ci_ub = fit$ci.ub, QE = fit$QE,
              QEp = fit$QEp, I2 = fit$I2, H2 = fit$H2, k = fit$k, k_yi = fit$k.yi,
              weights = as.numeric(weights(fit)))
  # the Cochran-Mantel-Haenszel test metafor prints (MH: variance with N_i - 1; its CO
  # is Cochran's version with N_i)
  if (!is.null(fit$MH)) out$CMH <- fit$MH
  if (!is.null(fit$MHp)) out$CMHp <- fit$MHp
  # Breslow-Day and Tarone's tests of homogeneity of the odds ratios (OR only)
  for (nm in c("BD", "BDp", "TA", "TAp")) if (!is.null(fit[[nm]])) out[[nm]] <- fit[[nm]]
  out
}

fits <- list()
for (name in c("bcg", "zero")) {
  d <- get(name)
  for (measure in c("OR", "RR", "RD")) {
    fit <- rma.mh(ai = ai, bi = bi, ci = ci, di = di, data = d, measure = measure)
    fits[[paste(name, measure, "MH", sep = "_")]] <- fit_summary(fit)
  }
  fit <- rma.mh(ai = ai, bi = bi, ci = ci, di = di, data = d, measure = "OR",
                correct = FALSE, level = 90)
  fits[[paste(name, "OR_MH_uncorrected_level90", sep = "_")]] <- fit_summary(fit)
  fit <- rma.peto(ai = ai, bi = bi, ci = ci, di = di, data = d)
  fits[[paste(name, "Peto", sep = "_")]] <- fit_summary(fit)
}

out <- list(
  source = sprintf("R %s.%s, metafor %s; written by validation/metafor_mh_peto.R",
                   R.version$major, R.version$minor, as.character(packageVersion("metafor"))),
  calls = c("rma.mh(ai, bi, ci, di, measure = m) with the defaults (add = 1/2, to = 'only0', drop00 = TRUE for the study effects of Q; the MH estimate from the counts as they are; correct = TRUE for the CMH test)",
            "rma.mh(..., measure = 'OR', correct = FALSE, level = 90)",
            "rma.peto(ai, bi, ci, di) with the defaults"),
  data = list(bcg = bcg, zero = zero),
  fits = fits
)
path <- file.path(out_dir, "metafor_mh_peto.json")
write_json(out, path, auto_unbox = TRUE, digits = I(12), pretty = TRUE, na = "null")
cat("wrote", path, "\n")
