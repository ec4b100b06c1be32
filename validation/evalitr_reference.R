# Reference values of the R package evalITR (Imai & Li) for
# bayes_hte.evaluation.policy_metrics: the PAPE and its standard deviation (Imai & Li
# 2021, Theorem 1), written as JSON to tests/data/evalitr_pape_reference.json (read by
# tests/evaluation/test_policy_variance.py; the tests never call R).
#
# evalITR is on CRAN but not in Debian. Its PAPE() uses base R only, so this script
# sources the function from a copy of the package's source: set EVALITR_DIR to a
# checkout of https://github.com/MichaelLLi/evalITR (the committed file was written from
# version 1.0.0, commit 50d68e9, with R 4.2.2 and jsonlite 1.8.4).
#
# evalITR's outcome is favourable (larger = better) and its rule is the 0/1 vector That;
# bayes_hte's y is the unfavourable event, so Y = -y. Each case is run with
# centered = FALSE (bayes_hte's default) and TRUE (evalITR's default).
#
# Run from the repository root:  EVALITR_DIR=/path/to/evalITR Rscript validation/evalitr_reference.R
suppressMessages(library(jsonlite))
src <- file.path(Sys.getenv("EVALITR_DIR"), "R", "PAPE.R")
if (!file.exists(src)) stop("set EVALITR_DIR to a checkout of evalITR (R/PAPE.R not found)")
source(src)
out_dir <- file.path("tests", "data")
if (!dir.exists(out_dir)) stop("run from the repository root (tests/data not found)")

set.seed(20261203)
make_case <- function(name, n, p_treat, base, effect, rule_share) {
  z <- rbinom(n, 1, p_treat)
  y <- rbinom(n, 1, plogis(base - effect * z))
  benefit <- round(rnorm(n, qnorm(rule_share), 1), 6)  # rule: benefit > 0
  list(name = name, y = y, z = z, benefit = benefit)
}
cases <- list(
  make_case("n40_balanced", 40, 0.5, 0.2, 0.5, 0.6),
  make_case("n300_two_to_one", 300, 2 / 3, -0.8, 0.4, 0.35),
  make_case("n1000_rare_events", 1000, 0.5, -2.5, 0.3, 0.8)
)
result <- lapply(cases, function(case) {
  f <- as.numeric(case$benefit > 0)
  res <- list()
  for (centered in c(FALSE, TRUE)) {
    r <- PAPE(case$z, f, -case$y, centered = centered)
    key <- if (centered) "centered" else "uncentered"
    res[[key]] <- list(pape = signif(r$pape, 12), sd = signif(r$sd, 12))
  }
  c(case, res)
})
write_json(list(source = "evalITR 1.0.0 PAPE() (commit 50d68e9), R 4.2.2",
                cases = result),
           file.path(out_dir, "evalitr_pape_reference.json"), auto_unbox = TRUE,
           digits = NA, pretty = TRUE)
cat("wrote", file.path(out_dir, "evalitr_pape_reference.json"), "\n")
