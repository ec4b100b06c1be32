# Reference values of R metafor (and lme4 / nlme) for the comparator tests, written as JSON
# to tests/data/:
#   metafor_bcg.json          the counts of dat.bcg, their escalc effect sizes and rma fits
#                             (tests/data/test_aggregate.py, tests/comparators/test_univariate.py,
#                             tests/models/test_synthesis_univariate.py; the counts also
#                             validation/forest_figures.py)
#   metafor_zero_cells.json   escalc on a made-up table with zero cells (test_aggregate.py)
#   metafor_zero_patterns.json  escalc (drop00 FALSE / TRUE) and rma REML of four trials whose
#                             second has one zero cell, no events in either arm, an
#                             all-events arm, or only events in both arms, for RD, RR, OR
#                             (test_aggregate.py, tests/comparators/test_univariate.py)
#   metafor_small.json        rma on three made-up small data sets (test_univariate.py)
#   metafor_berkey1998.json   dat.berkey1998 and its rma.mv fits
#                             (tests/comparators/test_multivariate.py,
#                             tests/models/test_synthesis_multivariate.py)
#   metafor_leave1out.json    leave1out of rma fits of dat.bcg (tests/comparators/test_sensitivity.py)
#   metafor_mvmeta_boundary.json  rma.mv fits whose optimum has a between-study correlation
#                             of +-1 (tests/comparators/test_multivariate.py)
#   metafor_metareg.json      rma meta-regressions and predictions (tests/comparators/test_cima.py)
#   metafor_bcg_metareg.json  rma(yi, vi, mods = ~ ablat [+ year]) of dat.bcg by every estimator,
#                             with print.rma's numbers and predict (tests/comparators/test_metareg.py)
#   metafor_tau2_estimators.json  rma by the estimators HS, HSk, HE, SJ, EB, EE (and the SE of
#                             tau^2 of every estimator), dat.bcg with 0-2 moderators
#                             (tests/comparators/test_tau2_estimators.py)
#   lme4_two_step_trial.json  lmer / gls fits of one simulated longitudinal trial
#                             (tests/comparators/test_mixed.py)
# Each file has a "source" (R and package versions, data set) and, per block, the R "call".
#
# Run from the repository root:  Rscript validation/metafor_reference.R
# Needs R with metafor, lme4, nlme and jsonlite (Debian: apt-get install r-cran-metafor
# r-cran-lme4 r-cran-nlme r-cran-jsonlite) and the project's .venv (it simulates the trial).
# The committed files were written with R 4.2.2, metafor 3.8-1, lme4 1.1-31 and nlme 3.1-162.
# Numbers are written with 12 significant digits (the precision the tests were first written
# against).
suppressMessages({
  library(metafor)
  library(jsonlite)
})

out_dir <- file.path("tests", "data")
if (!dir.exists(out_dir)) stop("run from the repository root (tests/data not found)")
versions <- sprintf("R %s.%s, metafor %s", R.version$major, R.version$minor,
                    as.character(packageVersion("metafor")))
script <- "validation/metafor_reference.R"

# write list(source = "<versions>; <about>; written by <script>", ...) to tests/data/<name>
write_ref <- function(name, about, ...) {
  x <- c(list(source = sprintf("%s; %s; written by %s", versions, about, script)), list(...))
  path <- file.path(out_dir, name)
  write_json(x, path, auto_unbox = TRUE, digits = I(12), pretty = TRUE, na = "null")
  cat("wrote", path, "\n")
}
# tight control: removes metafor's default iteration tolerances (1e-5 on tau^2 for REML/ML,
# uniroot tol 1.2e-4 for PM and confint); with the defaults the values agree with these to
# the 4 significant digits metafor prints
tight <- list(threshold = 1e-12, tol = 1e-12, maxiter = 1000)
tight_ci <- list(tol = 1e-12, maxiter = 1000)

# ------------------------------------------------------------------------ BCG (dat.bcg)
escalc_bcg <- list()
for (m in c("RR", "OR", "RD")) {
  d <- escalc(measure = m, ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
  escalc_bcg[[m]] <- list(
    call = sprintf('escalc(measure = "%s", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)', m),
    yi = as.numeric(d$yi), vi = as.numeric(d$vi))
}
dat <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
rma_bcg <- list()
for (m in c("FE", "DL", "REML", "ML", "PM")) {
  for (test in c("z", "knha")) {
    fit <- suppressWarnings(rma(yi, vi, data = dat, method = m, test = test, control = tight))
    pr <- predict(fit)
    # FE models have no prediction interval in metafor: tau^2 = 0, so it equals the CI
    if (is.null(pr$pi.lb)) { pr$pi.lb <- pr$ci.lb; pr$pi.ub <- pr$ci.ub }
    tau2_ci <- if (m == "FE") c(NA_real_, NA_real_) else {
      cf <- confint(fit, control = tight_ci)$random
      as.numeric(cf["tau^2", 2:3])
    }
    rma_bcg[[length(rma_bcg) + 1]] <- list(
      method = m, test = test, estimate = as.numeric(fit$b[1]), se = fit$se,
      stat = fit$zval, p = fit$pval, ci = c(fit$ci.lb, fit$ci.ub),
      pi = c(pr$pi.lb, pr$pi.ub), tau2 = fit$tau2, i2 = fit$I2, h2 = fit$H2, q = fit$QE,
      q_p = fit$QEp, tau2_ci = tau2_ci)
  }
}
rma_other <- list()
for (meas in c("OR", "RD")) {
  d <- escalc(measure = meas, ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
  for (m in c("DL", "REML")) {
    fit <- rma(yi, vi, data = d, method = m, control = tight)
    rma_other[[length(rma_other) + 1]] <- list(
      measure = meas, method = m, estimate = as.numeric(fit$b[1]), se = fit$se,
      tau2 = fit$tau2, i2 = fit$I2, q = fit$QE)
  }
}
write_ref("metafor_bcg.json", "data set dat.bcg (BCG vaccine trials, Colditz et al. 1994)",
  # the counts as the columns of bayes_hte.ArmTable (tests/data/test_aggregate.py and
  # validation/forest_figures.py read them)
  data = list(study = paste(dat.bcg$author, dat.bcg$year), n11 = dat.bcg$tpos,
              n10 = dat.bcg$tneg, n01 = dat.bcg$cpos, n00 = dat.bcg$cneg),
  escalc = escalc_bcg,
  rma = list(
    call = paste0('dat <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, ',
                  'data = dat.bcg); fit <- rma(yi, vi, data = dat, method = <method>, ',
                  'test = <test>, control = list(threshold = 1e-12, tol = 1e-12, ',
                  'maxiter = 1000)): b, se, zval, pval, ci.lb/ci.ub, tau2, I2, H2, QE, QEp; ',
                  'predict(fit): pi.lb/pi.ub (FE: none, the CI is stored); ',
                  'confint(fit, control = list(tol = 1e-12, maxiter = 1000))$random["tau^2", ] ',
                  '(FE: none, null)'),
    fits = rma_bcg),
  rma_other = list(
    call = paste0('escalc(measure = <measure>, ...dat.bcg); rma(yi, vi, method = <method>, ',
                  'control = list(threshold = 1e-12, tol = 1e-12, maxiter = 1000))'),
    fits = rma_other))

# ------------------------------------------------------------------------ zero cells
# a made-up table with zero cells (continuity correction add = 1/2, to = "only0")
z <- data.frame(ai = c(0, 2, 1, 5, 10), bi = c(20, 48, 99, 45, 0),
                ci = c(3, 0, 4, 9, 8), di = c(17, 50, 96, 41, 2))
escalc_zero <- list()
for (m in c("RR", "OR", "RD")) {
  d <- escalc(measure = m, ai = ai, bi = bi, ci = ci, di = di, data = z)
  escalc_zero[[m]] <- list(
    call = sprintf('escalc(measure = "%s", ai = ai, bi = bi, ci = ci, di = di, data = z)', m),
    yi = as.numeric(d$yi), vi = as.numeric(d$vi))
}
write_ref("metafor_zero_cells.json",
          "a made-up 2x2 table with zero cells (defaults add = 1/2, to = \"only0\")",
  data = as.list(z),
  escalc = escalc_zero)

# ------------------------------------------------------------------------ zero-cell patterns
# four trials (events/total, treated vs control) whose second trial T2 takes a zero pattern:
# one zero cell, no events in either arm (double zero), an all-events arm, all events in
# both arms; every measure with metafor's defaults (escalc add = 1/2, to = "only0",
# drop00 = FALSE: the double-zero / double-all-events trial is kept, corrected) and with
# drop00 = TRUE (its yi and vi are NA and rma leaves it out); then rma(method = "REML")
# (tests/data/test_aggregate.py, tests/comparators/test_univariate.py)
zero_patterns <- list(
  one_zero = list(e1 = c(3, 0, 5, 2), e0 = c(6, 3, 9, 4)),
  double_zero = list(e1 = c(3, 0, 5, 2), e0 = c(6, 0, 9, 4)),
  all_events_arm = list(e1 = c(47, 40, 55, 28), e0 = c(44, 36, 51, 26)),
  double_all_events = list(e1 = c(47, 40, 55, 28), e0 = c(44, 40, 51, 26)))
zero_totals <- c(50, 40, 60, 30)
zero_data <- list()
zero_fits <- list()
for (pat in names(zero_patterns)) {
  p <- zero_patterns[[pat]]
  d0 <- data.frame(study = paste0("T", 1:4), ai = p$e1, bi = zero_totals - p$e1,
                   ci = p$e0, di = zero_totals - p$e0)
  zero_data[[pat]] <- list(study = d0$study, n11 = d0$ai, n10 = d0$bi, n01 = d0$ci,
                           n00 = d0$di)
  for (m in c("RD", "RR", "OR")) {
    for (drop in c(FALSE, TRUE)) {
      d <- escalc(measure = m, ai = ai, bi = bi, ci = ci, di = di, data = d0, drop00 = drop)
      fit <- suppressWarnings(rma(yi, vi, data = d, method = "REML", control = tight))
      zero_fits[[length(zero_fits) + 1]] <- list(
        pattern = pat, measure = m, drop00 = drop,
        yi = as.numeric(d$yi), vi = as.numeric(d$vi), k = fit$k,
        estimate = as.numeric(fit$b[1]), se = fit$se, tau2 = fit$tau2)
    }
  }
}
write_ref("metafor_zero_patterns.json",
          paste("four made-up trials, the second with a zero pattern (one zero cell, double",
                "zero, an all-events arm, all events in both arms)"),
  data = zero_data,
  call = paste0('d <- escalc(measure = <measure>, ai = n11, bi = n10, ci = n01, di = n00, ',
                'data = <pattern>, drop00 = <drop00>) (add = 1/2, to = "only0"); ',
                'fit <- rma(yi, vi, data = d, method = "REML", control = list(threshold = ',
                '1e-12, tol = 1e-12, maxiter = 1000)): k, b, se, tau2 (yi, vi: null where ',
                'drop00 = TRUE drops the trial)'),
  fits = zero_fits)

# ------------------------------------------------------------------------ small data sets
# a: tau^2 truncated at 0; b: Q below both chi^2 quantiles; c: clear heterogeneity
sets <- list(a = list(yi = c(0.1, 0.3, -0.1, 0.25, 0.05), vi = c(0.04, 0.05, 0.03, 0.06, 0.04)),
             b = list(yi = c(0.1, 0.12, 0.09, 0.11, 0.1), vi = c(0.01, 0.02, 0.015, 0.01, 0.03)),
             c = list(yi = c(0.5, -0.4, 0.9, 0.1, -0.3, 1.2), vi = c(0.02, 0.05, 0.03, 0.1, 0.04, 0.2)))
small <- list()
for (nm in names(sets)) {
  s <- sets[[nm]]
  for (m in c("DL", "REML", "ML", "PM")) {
    fit <- rma(s$yi, s$vi, method = m, control = tight)
    cf <- confint(fit, control = tight_ci)$random
    pr <- predict(fit)
    small[[length(small) + 1]] <- list(
      data = nm, method = m, estimate = as.numeric(fit$b[1]), se = fit$se, tau2 = fit$tau2,
      i2 = fit$I2, h2 = fit$H2, q = fit$QE, pi = c(pr$pi.lb, pr$pi.ub),
      tau2_ci = as.numeric(cf["tau^2", 2:3]), i2_ci = as.numeric(cf["I^2(%)", 2:3]))
  }
}
write_ref("metafor_small.json",
          paste("three made-up data sets (a: tau^2 truncated at 0, b: Q below both chi^2",
                "quantiles, c: clear heterogeneity)"),
  data = sets,
  rma = list(
    call = paste0('fit <- rma(yi, vi, method = <method>, control = list(threshold = 1e-12, ',
                  'tol = 1e-12, maxiter = 1000)); predict(fit); confint(fit, control = ',
                  'list(tol = 1e-12, maxiter = 1000))$random[c("tau^2", "I^2(%)"), ]'),
    fits = small))

# ------------------------------------------------------------------------ leave1out (BCG)
l1o <- list()
for (m in c("REML", "DL", "FE")) {
  for (test in c("z", "knha")) {
    fit <- rma(yi, vi, data = dat, method = m, test = test, control = tight)
    l <- leave1out(fit)
    l1o[[length(l1o) + 1]] <- list(
      method = m, test = test, estimate = l$estimate, se = l$se,
      statistic = if (test == "knha") l$tval else l$zval,
      p = l$pval, ci_low = l$ci.lb, ci_high = l$ci.ub, q = l$Q, q_p = l$Qp,
      tau2 = if (is.null(l$tau2)) rep(0, length(l$estimate)) else l$tau2,  # FE: none
      i2 = l$I2, h2 = l$H2)
  }
}
write_ref("metafor_leave1out.json", "data set dat.bcg, log risk ratios (escalc RR)",
  studies = paste(dat.bcg$author, dat.bcg$year),
  call = paste('dat <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg,',
               'data = dat.bcg); leave1out(rma(yi, vi, data = dat, method = <method>,',
               'test = <test>, control = list(threshold = 1e-12, tol = 1e-12,',
               'maxiter = 1000)))'),
  fits = l1o)

# ------------------------------------------------------------------------ Berkey 1998
# metafor orders the outcomes AL, PD (factor levels); everything below is re-ordered to
# (PD, AL), the column order of the tests
bk <- dat.berkey1998
V <- bldiag(lapply(split(bk[, c("v1i", "v2i")], bk$trial), as.matrix))
pd_al <- c(2, 1)
trials <- unique(bk[, c("trial", "author", "year")])
Y <- t(sapply(split(bk, bk$trial), function(d) d$yi[match(c("PD", "AL"), d$outcome)]))
S <- lapply(split(bk, bk$trial), function(d) {
  o <- match(c("PD", "AL"), d$outcome)
  as.matrix(d[o, c("v1i", "v2i")])[, o]
})
structs <- c(unstructured = "UN", compound_symmetry = "CS", diagonal = "DIAG", identity = "ID")
mv_fit <- function(method, struct, keep = seq_len(nrow(bk))) {
  rma.mv(yi, V[keep, keep], mods = ~ outcome - 1, random = ~ outcome | trial,
         struct = struct, data = bk[keep, ], method = method)
}
summ <- function(fit) {
  tau2 <- if (length(fit$tau2) == 1) rep(fit$tau2, 2) else fit$tau2[pd_al]
  list(estimate = as.numeric(fit$b)[pd_al], se = fit$se[pd_al], tau2 = tau2,
       rho = if (is.null(fit$rho)) 0 else fit$rho, loglik = as.numeric(logLik(fit)))
}
structures <- list()
for (s in names(structs)) {
  for (m in c("REML", "ML")) {
    structures[[length(structures) + 1]] <- c(list(structure = s, method = m),
                                              summ(mv_fit(m, structs[[s]])))
  }
}
un <- mv_fit("REML", "UN")
un_ml <- mv_fit("ML", "UN")
fe <- rma.mv(yi, V, mods = ~ outcome - 1, data = bk, method = "FE")
re <- ranef(un)[[1]]
keep <- -c(3, 10)  # PD of Lindhe 1982 and AL of Becker 1988
missing <- list()
for (m in c("REML", "ML")) {
  fit <- mv_fit(m, "UN", keep)
  missing[[length(missing) + 1]] <- c(list(method = m), summ(fit),
                                      list(vcov = unname(vcov(fit)[pd_al, pd_al]), q = fit$QE,
                                           q_df = fit$k - fit$p))
}
pd_rows <- bk[bk$outcome == "PD", ]
uni <- rma(yi, vi, data = pd_rows, method = "REML")
write_ref("metafor_berkey1998.json",
          paste("data set dat.berkey1998 (Berkey et al. 1998, Stat Med 17:2537-2550;",
                "outcomes PD and AL, columns yi, v1i, v2i)"),
  data = list(trials = paste(trials$author, trials$year), names = c("PD", "AL"),
              estimates = unname(Y), covariances = unname(S)),
  setup = paste0('bk <- dat.berkey1998; V <- bldiag(lapply(split(bk[, c("v1i", "v2i")], ',
                 'bk$trial), as.matrix)); fit <- rma.mv(yi, V, mods = ~ outcome - 1, ',
                 'random = ~ outcome | trial, struct = <UN|CS|DIAG|ID>, data = bk, ',
                 'method = <REML|ML>); values re-ordered from metafor\'s (AL, PD) to (PD, AL); ',
                 'loglik is metafor\'s logLik (REML: the restricted likelihood plus ',
                 '0.5 log|X\'X|)'),
  structures = structures,
  unstructured_reml = list(
    vcov = unname(vcov(un)[pd_al, pd_al]), tau = sqrt(un$tau2[pd_al]),
    ci_low = un$ci.lb[pd_al], ci_high = un$ci.ub[pd_al],
    aic = as.numeric(AIC(un)), bic = as.numeric(BIC(un)), q = un$QE, q_df = un$k - un$p,
    ranef_call = 'ranef(fit)[[1]][, "intrcpt"]: deviations of trials 1 and 5 from the pooled mean',
    ranef_trials = c(1, 5),
    ranef = lapply(c(1, 5), function(i) re[paste(c("PD", "AL"), i, sep = " | "), "intrcpt"])),
  unstructured_ml = list(loglik = as.numeric(logLik(un_ml)), aic = as.numeric(AIC(un_ml)),
                         bic = as.numeric(BIC(un_ml))),
  fixed_effect = list(
    call = 'rma.mv(yi, V, mods = ~ outcome - 1, data = bk, method = "FE")',
    estimate = as.numeric(fe$b)[pd_al], se = fe$se[pd_al],
    loglik = as.numeric(logLik(fe)), aic = as.numeric(AIC(fe)), bic = as.numeric(BIC(fe)),
    q = fe$QE),
  missing_components = list(
    call = 'keep <- -c(3, 10) (PD of Lindhe 1982, AL of Becker 1988); rma.mv(yi, V[keep, keep], mods = ~ outcome - 1, random = ~ outcome | trial, struct = "UN", data = bk[keep, ], method = <method>)',
    fits = missing),
  univariate_pd = list(
    call = 'rma(yi, vi, data = bk[bk$outcome == "PD", ], method = "REML") (default control)',
    estimate = as.numeric(uni$b[1]), se = uni$se, tau2 = uni$tau2, q = uni$QE))

# ------------------------------------------------------------------------ mvmeta optima on a
# boundary: a correlation of +-1, which a single local search from a diagonal start misses
# (tests/comparators/test_multivariate.py)
keep2 <- -c(3, 8)  # PD of Lindhe 1982 and AL of Ramfjord 1987: one component each missing
# rma.mv's optimiser is local too: which optimum it reports depends on the order of the
# outcome levels, so both orders are kept
bound_fits <- list()
for (lev in list(c("AL", "PD"), c("PD", "AL"))) {
  bk2 <- bk
  bk2$outcome <- factor(bk2$outcome, levels = lev)
  o <- match(c("PD", "AL"), lev)
  for (m in c("REML", "ML")) {
    fit <- rma.mv(yi, V[keep2, keep2], mods = ~ outcome - 1, random = ~ outcome | trial,
                  struct = "UN", data = bk2[keep2, ], method = m)
    bound_fits[[length(bound_fits) + 1]] <- list(
      levels = lev, method = m, estimate = as.numeric(fit$b)[o], se = fit$se[o],
      tau2 = fit$tau2[o], rho = fit$rho, loglik = as.numeric(logLik(fit)))
  }
}
# six made-up studies (rounded draws) whose REML compound-symmetry optimum has rho = 1
cs_y <- rbind(c(1.1367, -0.9863), c(0.2199, -0.9358), c(1.2277, -1.6589), c(1.084, -0.973),
              c(1.1765, -0.8804), c(0.9392, -1.0636))
cs_S <- list(matrix(c(0.02219, 0.01213, 0.01213, 0.03882), 2),
             matrix(c(0.12976, -0.01419, -0.01419, 0.00435), 2),
             matrix(c(0.05669, -0.08329, -0.08329, 0.21642), 2),
             matrix(c(0.00743, -0.00524, -0.00524, 0.00729), 2),
             matrix(c(0.00728, -0.00249, -0.00249, 0.01283), 2),
             matrix(c(0.01817, -0.00877, -0.00877, 0.00698), 2))
cs_d <- data.frame(study = rep(1:6, each = 2), outcome = factor(rep(c("a", "b"), 6)),
                   yi = as.vector(t(cs_y)))
cs_fits <- list()
for (s in c("CS", "ID")) {
  fit <- rma.mv(yi, bldiag(cs_S), mods = ~ outcome - 1, random = ~ outcome | study,
                struct = s, data = cs_d, method = "REML")
  cs_fits[[length(cs_fits) + 1]] <- list(
    struct = s, estimate = as.numeric(fit$b), se = fit$se, tau2 = fit$tau2,
    rho = if (is.null(fit$rho)) 0 else fit$rho, loglik = as.numeric(logLik(fit)))
}
write_ref("metafor_mvmeta_boundary.json",
          "rma.mv optima at a between-study correlation of +-1",
  berkey_missing = list(
    call = paste('keep <- -c(3, 8) (PD of Lindhe 1982, AL of Ramfjord 1987); the outcome',
                 'factor with levels <levels>; rma.mv(yi, V[keep, keep], mods = ~ outcome - 1,',
                 'random = ~ outcome | trial, struct = "UN", data = bk[keep, ],',
                 'method = <method>); values ordered (PD, AL)'),
    fits = bound_fits),
  compound_symmetry = list(
    call = paste('rma.mv(yi, bldiag(S), mods = ~ outcome - 1, random = ~ outcome | study,',
                 'struct = <CS|ID>, method = "REML"); loglik includes 0.5 log|X\'X|'),
    estimates = unname(cs_y), covariances = lapply(cs_S, unname), fits = cs_fits))

# ------------------------------------------------------------------------ meta-regression
# 1. a fixed 5-study data set, three study-level covariates, tau^2 = 0
m1 <- data.frame(yi = c(0.06, -0.03, 0.02, -0.01, 0.04),
                 vi = c(0.055, 0.036, 0.04, 0.037, 0.041)^2,
                 x1 = c(0.30, 0.19, 0.30, 0.20, 0.30), x2 = c(0.18, 0.24, 0.20, 0.30, 0.21),
                 x3 = c(0.00, -0.49, -0.13, -0.49, -0.07))
f1 <- rma(yi, vi, mods = ~ x1 + x2 + x3, data = m1, method = "REML")
p1 <- predict(f1, newmods = c(0.32, 0.27, 0.35))
# 2. six studies, one covariate, tau^2 > 0
m2 <- data.frame(yi = c(0.3, -0.2, 0.25, -0.1, 0.05, 0.4),
                 vi = c(0.01, 0.02, 0.015, 0.01, 0.03, 0.02), x = 1:6)
f2 <- rma(yi, vi, mods = ~ x, data = m2, method = "REML", control = list(threshold = 1e-12))
p2 <- predict(f2, newmods = 3.5)
write_ref("metafor_metareg.json", "two made-up meta-regression data sets",
  three_covariates = list(
    call = 'fit <- rma(yi, vi, mods = ~ x1 + x2 + x3, method = "REML"); predict(fit, newmods = c(0.32, 0.27, 0.35))',
    data = as.list(m1), tau2 = f1$tau2, beta = as.numeric(f1$b), newmods = c(0.32, 0.27, 0.35),
    pred = p1$pred, pred_se = p1$se, pred_ci = c(p1$ci.lb, p1$ci.ub)),
  one_covariate = list(
    call = 'fit <- rma(yi, vi, mods = ~ x, method = "REML", control = list(threshold = 1e-12)); predict(fit, newmods = 3.5)',
    data = as.list(m2), tau2 = f2$tau2, beta = as.numeric(f2$b), newmods = 3.5,
    pred = p2$pred, pred_se = p2$se, pred_ci = c(p2$ci.lb, p2$ci.ub)))

# ------------------------------------------------------------------------ BCG meta-regression
# rma(yi, vi, mods = ...) on dat.bcg's log RR: every number print.rma shows for a
# meta-regression, per estimator (tests/comparators/test_metareg.py)
dat <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
newmods <- c(10, 30, 50)
metareg_fit <- function(mods, method, test, with_pred) {
  fit <- rma(yi, vi, mods = mods, data = dat, method = method, test = test, control = tight)
  out <- list(
    call = sprintf('rma(yi, vi, mods = %s, data = dat, method = "%s", test = "%s", control = tight)',
                   deparse(mods), method, test),
    names = rownames(fit$b), beta = as.numeric(fit$b), se = as.numeric(fit$se),
    stat = as.numeric(fit$zval), pval = as.numeric(fit$pval),
    ci_lb = as.numeric(fit$ci.lb), ci_ub = as.numeric(fit$ci.ub), df = fit$ddf[[1]],
    tau2 = fit$tau2, se_tau2 = fit$se.tau2, I2 = fit$I2, H2 = fit$H2,
    R2 = if (is.null(fit$R2)) NA else fit$R2,
    QE = fit$QE, QEp = fit$QEp, QM = fit$QM, QMp = fit$QMp, QMdf = as.numeric(fit$QMdf),
    k = fit$k, p = fit$p)
  if (with_pred) {
    p <- predict(fit, newmods = newmods)
    out$pred <- list(call = "predict(fit, newmods = c(10, 30, 50))", newmods = newmods,
                     pred = as.numeric(p$pred), se = as.numeric(p$se),
                     ci_lb = as.numeric(p$ci.lb), ci_ub = as.numeric(p$ci.ub),
                     pi_lb = as.numeric(p$pi.lb), pi_ub = as.numeric(p$pi.ub))
  }
  out
}
metareg_bcg <- list()
for (method in c("REML", "ML", "DL", "PM", "FE")) {
  metareg_bcg[[paste0("ablat_", method)]] <- metareg_fit(~ ablat, method, "z", TRUE)
}
metareg_bcg[["ablat_REML_knha"]] <- metareg_fit(~ ablat, "REML", "knha", TRUE)
metareg_bcg[["ablat_year_REML"]] <- metareg_fit(~ ablat + year, "REML", "z", FALSE)
metareg_bcg[["ablat_year_REML_knha"]] <- metareg_fit(~ ablat + year, "REML", "knha", FALSE)
metareg_bcg[["ablat_year_DL"]] <- metareg_fit(~ ablat + year, "DL", "z", FALSE)
# a likelihood whose maximum is inside while scoring from tau^2 = 0 stays at 0 (ML)
for (method in c("ML", "REML", "FE")) {
  metareg_bcg[[paste0("ablat_alloc_", method)]] <- metareg_fit(~ ablat + factor(alloc), method,
                                                              "z", FALSE)
}
do.call(write_ref, c(list("metafor_bcg_metareg.json",
                          "dat.bcg log RR (escalc measure RR), meta-regressions on ablat and year"),
                     metareg_bcg))

# ------------------------------------------------------------------------ further tau^2 estimators
# metafor's other estimators of tau^2 (Hunter-Schmidt HS and HSk, Hedges HE, Sidik-Jonkman SJ,
# empirical Bayes EB) and its equal-effects name EE, with and without moderators, and the
# standard error of tau^2 of every estimator (tests/comparators/test_tau2_estimators.py)
tau2_est <- list()
for (method in c("HS", "HSk", "HE", "SJ", "EB", "EE", "REML", "ML", "DL", "PM")) {
  tau2_est[[paste0("intercept_", method)]] <- metareg_fit(~ 1, method, "z", FALSE)
  tau2_est[[paste0("ablat_", method)]] <- metareg_fit(~ ablat, method, "z", TRUE)
  tau2_est[[paste0("ablat_year_", method)]] <- metareg_fit(~ ablat + year, method, "z", FALSE)
}
for (method in c("HE", "SJ")) {
  tau2_est[[paste0("ablat_", method, "_knha")]] <- metareg_fit(~ ablat, method, "knha", TRUE)
}
# homogeneous made-up studies: the moment estimators are truncated at 0
homog <- data.frame(yi = c(0.10, 0.12, 0.09, 0.11, 0.13), vi = c(0.02, 0.03, 0.025, 0.04, 0.05))
homogeneous <- list(yi = homog$yi, vi = homog$vi)
for (method in c("HS", "HSk", "HE", "SJ", "EB")) {
  fit <- rma(yi, vi, data = homog, method = method, control = tight)
  homogeneous[[method]] <- list(
    call = sprintf('rma(yi, vi, data = homog, method = "%s", control = tight)', method),
    tau2 = fit$tau2, se_tau2 = fit$se.tau2, beta = as.numeric(fit$b), se = fit$se)
}
do.call(write_ref, c(list("metafor_tau2_estimators.json",
                          paste("dat.bcg log RR (escalc measure RR) by metafor's further tau^2",
                                "estimators; and five made-up homogeneous studies")),
                     tau2_est, list(homogeneous = homogeneous)))

# ------------------------------------------------------------------------ mixed models (lme4, nlme)
# one trial of bayes_hte.simulate.two_step (120 participants, MAR dropout, 270 measurements),
# written to CSV by the package's Python, fitted with lme4 / nlme (tests/comparators/test_mixed.py)
suppressMessages({
  library(lme4)
  library(nlme)
})
trial_call <- paste0("two_step(design='simulation2', trials=1, size_range=(120, 120), ",
                     "dropout=0.25, z_mean=19.3, z_sd=6.3, seed=11)")
csv <- tempfile(fileext = ".csv")
py <- sprintf("from bayes_hte.simulate.two_step import two_step; %s.data.to_csv('%s', index=False)",
              trial_call, csv)
if (system2(file.path(".venv", "bin", "python"), c("-c", shQuote(py))) != 0) {
  stop("could not simulate the trial with .venv/bin/python")
}
d <- read.csv(csv)
d$visit <- factor(d$visit)
d$subject <- factor(d$subject)
f <- y ~ treat + visit + z + treat:visit + visit:z + treat:z
fr <- update(f, . ~ . + (1 | subject))
# coefficients, SEs sqrt(diag(vcov())) and logLik() of a fit
coefs <- function(fit, est) {
  list(est = unname(est), se = unname(sqrt(diag(as.matrix(vcov(fit))))),
       loglik = as.numeric(logLik(fit)))
}
lmer_fit <- function(data, reml) {
  fit <- lmer(fr, data = data, REML = reml)
  c(coefs(fit, fixef(fit)), list(sd = as.data.frame(VarCorr(fit))$sdcor))
}
un <- gls(f, correlation = corSymm(form = ~ as.integer(visit) | subject),
          weights = varIdent(form = ~ 1 | visit), data = d, method = "REML",
          control = glsControl(tolerance = 1e-10, msTol = 1e-10))
no_v3 <- lmer(fr, data = droplevels(d[d$visit != 3, ]), REML = TRUE)
write_ref("lme4_two_step_trial.json",
          sprintf("lme4 %s, nlme %s; the trial %s of bayes_hte.simulate.two_step",
                  packageVersion("lme4"), packageVersion("nlme"), trial_call),
  setup = paste0('d <- read.csv("trial.csv"); d$visit <- factor(d$visit); ',
                 'd$subject <- factor(d$subject); ',
                 'f <- y ~ treat + visit + z + treat:visit + visit:z + treat:z; ',
                 'fr <- update(f, . ~ . + (1 | subject)); est = fixef()/coef(), ',
                 'se = sqrt(diag(vcov())), loglik = logLik(), sd = the random-intercept and ',
                 'residual SDs, sigma = getVarCov()'),
  random_intercept_reml = c(list(call = "lmer(fr, data = d, REML = TRUE)"), lmer_fit(d, TRUE)),
  random_intercept_ml = c(list(call = "lmer(fr, data = d, REML = FALSE)"), lmer_fit(d, FALSE)),
  unstructured_reml = c(
    list(call = paste0('gls(f, correlation = corSymm(form = ~ as.integer(visit) | subject), ',
                       'weights = varIdent(form = ~ 1 | visit), data = d, method = "REML", ',
                       'control = glsControl(tolerance = 1e-10, msTol = 1e-10))')),
    coefs(un, coef(un)), list(sigma = matrix(as.numeric(getVarCov(un)), 3))),
  no_visit3_reml = c(list(call = "lmer(fr, data = d[d$visit != 3, ], REML = TRUE)"),
                     coefs(no_v3, fixef(no_v3))))
