# Reference values of R rsimsum for bayes_hte.studies.performance, written as JSON to
# tests/data/rsimsum_reference.json (read by tests/studies/test_performance.py; the tests
# never call R).
#
# The data are the small fixed table of the tests, written out below: one scenario, true
# value 0.5, method "A" with 5 successful replicates and method "B" with 4 (its fifth
# replicate failed and is not passed to rsimsum), Wald 95% intervals est +/- qnorm(0.975) se.
# rsimsum::simsum is called with ci.limits = the interval columns, so cover and becover use
# the stored intervals; its power is the Wald test |est| >= qnorm(0.975) se, which these
# intervals make equal to "the interval excludes 0". A second call without ci.limits, at
# level 0.5, gives the Wald coverage, bias-eliminated coverage and power.
#
# Run from the repository root:  Rscript validation/rsimsum_reference.R
# Needs R with rsimsum and jsonlite (install.packages(c("rsimsum", "jsonlite")); Debian has
# r-cran-jsonlite, and rsimsum's dependencies r-cran-checkmate, r-cran-ggplot2,
# r-cran-ggridges, r-cran-knitr, r-cran-lifecycle, r-cran-scales). The committed file was
# written with R 4.2.2, rsimsum 0.13.0 and jsonlite 1.8.4. Numbers have 12 significant digits.
suppressMessages({
  library(rsimsum)
  library(jsonlite)
})

out_dir <- file.path("tests", "data")
if (!dir.exists(out_dir)) stop("run from the repository root (tests/data not found)")

z <- qnorm(0.975)
fixed <- data.frame(
  method = c(rep("A", 5), rep("B", 4)),
  replicate = c(0:4, 0:3),
  estimate = c(0.62, 0.41, 0.55, 0.78, 0.15, 0.70, 0.95, 0.81, 0.66),
  se = c(0.10, 0.12, 0.09, 0.12, 0.10, 0.05, 0.20, 0.06, 0.08),
  stringsAsFactors = FALSE
)
fixed$ci_low <- fixed$estimate - z * fixed$se
fixed$ci_high <- fixed$estimate + z * fixed$se

# one call per method: with methodvar, simsum correlates the methods' estimates
# replicate by replicate (relprec), which needs equal numbers of replicates
call <- paste0('simsum(data = fixed[fixed$method == m, ], estvarname = "estimate", ',
               'se = "se", true = 0.5, ci.limits = c("ci_low", "ci_high"))')
keep <- c("nsim", "thetamedian", "se2mean", "se2median", "bias", "rbias", "empse", "mse",
          "modelse", "relerror", "cover", "becover", "power")
summarise <- function(call, keep) {
  summ <- do.call(rbind, lapply(c("A", "B"), function(m) {
    fit <- eval(parse(text = call))
    s <- fit$summ[fit$summ$stat %in% keep, c("stat", "est", "mcse")]
    s$method <- m
    s
  }))
  rownames(summ) <- NULL
  summ
}
summ <- summarise(call, keep)

# without ci.limits rsimsum makes Wald intervals est +/- qnorm(1 - (1 - level) / 2) se:
# the intervals bayes_hte.studies.performance puts where a method gave none (here at 50%,
# a level at which they cover otherwise than the 95% ones)
wald_call <- paste0('simsum(data = fixed[fixed$method == m, ], estvarname = "estimate", ',
                    'se = "se", true = 0.5, control = list(level = 0.5))')
wald <- summarise(wald_call, c("cover", "becover", "power"))

out <- list(
  source = sprintf("R %s.%s, rsimsum %s; written by validation/rsimsum_reference.R",
                   R.version$major, R.version$minor, as.character(packageVersion("rsimsum"))),
  call = call,
  true = 0.5,
  data = fixed,
  summ = summ,
  wald_call = wald_call,
  wald_level = 0.5,
  wald = wald
)
path <- file.path(out_dir, "rsimsum_reference.json")
write_json(out, path, auto_unbox = TRUE, digits = I(12), pretty = TRUE, na = "null")
cat("wrote", path, "\n")
