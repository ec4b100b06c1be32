"""The protocol every estimator follows, documented once.

An estimator is a thin class a user holds: it validates a data container, resolves its
options once (:mod:`bayes_hte.options`), calls a factory of :mod:`bayes_hte.models`,
samples with :func:`bayes_hte.inference.fit`, and hands the posterior, the design and the
resolved options to :mod:`bayes_hte.effects`. Every estimator has

``fit(data, *, draws, tune, chains, random_seed, ...) -> self``
    sample the posterior; ``self.idata`` is an ``xarray.DataTree`` with the groups
    ``posterior``, ``sample_stats``, ``log_likelihood`` (one value per independent
    observation unit), ``posterior_predictive`` where it makes sense, ``observed_data``,
    ``constant_data`` and the fit data (group named by :attr:`Estimator.data_group`).
``summary(*, ci_prob=0.95) -> pandas.DataFrame``
    the estimands as a tidy table (``mean``, ``sd``, ``ci_low``, ``ci_high``).
``parameters(*, ci_prob=0.95) -> pandas.DataFrame``
    convergence table (ArviZ: R-hat, ESS, MCSE) of the population-level parameters.
``prior_sensitivity(*, threshold=0.05) -> pandas.DataFrame``
    power-scaling prior and likelihood sensitivity of those parameters, with ArviZ's
    diagnosis (:func:`bayes_hte.sensitivity.prior_sensitivity`).
``save(path)`` / ``load(path)``
    one NetCDF file holding the posterior, the fit data, the options, the priors, the
    seed and the version of bayes_hte that fitted it; ``load`` refuses a file of another
    estimator, or one whose posterior lacks a free variable of the model its stored
    options and data build (a different model).

Estimators of individual-level models (:class:`IPDEstimator`) add
``ite(newdata=None, *, new_trial=False, ...)`` (dims chain, draw, patient) and
``cate(by, newdata=None, *, ...)`` (dims chain, draw, ``by``). ``new_trial=False``
places the patients in an average trial (the pooled parameters); ``new_trial=True``
in a new trial drawn, per posterior draw, from the between-trial distribution (a
prediction for a trial outside the meta-analysis; wider intervals).
"""

from __future__ import annotations

import json
import warnings
from importlib import metadata
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd
import pymc as pm
import xarray as xr

from bayes_hte import diagnostics, effects, sensitivity
from bayes_hte.data.ipd import IPDData
from bayes_hte.errors import DataError, DataWarning, format_rows
from bayes_hte.models.priors import priors_to_json
from bayes_hte.options import check_seed

#: Options stored in the posterior's attrs under these keys (files of 0.1 have them too).
ATTR_ESTIMATOR = "bayes_hte_estimator"
ATTR_OPTIONS = "bayes_hte_options"
ATTR_PRIORS = "bayes_hte_priors"
ATTR_SEED = "bayes_hte_random_seed"
ATTR_VERSION = "bayes_hte_version"
#: Most distinct values a numeric ``cate(by=...)`` column may have (more: a continuous
#: variable, to be grouped first).
MAX_CATE_LEVELS = 20


def _package_version() -> str:
    try:
        return metadata.version("bayes_hte")
    except metadata.PackageNotFoundError:  # pragma: no cover - not installed
        return "unknown"


#: Version of bayes_hte (``bayes_hte.__version__``), stored in every saved fit.
PACKAGE_VERSION = _package_version()


class Estimator:
    """Base of every estimator: the fitted state, the model, NetCDF save / load.

    Subclasses set :attr:`data_group` and ``_option_names`` (the constructor's keywords,
    read back from the attributes of those names by ``_options``, which must be
    JSON-serialisable), implement ``build(data) -> pm.Model``, ``fit``, ``summary`` and
    ``parameters``, and either set ``_data_type`` (a container with ``to_dataset`` and
    ``from_dataset``) or implement ``_data_to_dataset(data)`` / ``_data_from_dataset(ds)``.
    """

    #: Name of the DataTree group that stores the fit data.
    data_group: ClassVar[str] = "data"
    #: Posterior variables renamed since an older version: {old name: new name}.
    renamed_vars: ClassVar[dict[str, str]] = {}
    #: The constructor's keywords, in the order they are stored in a saved fit.
    _option_names: ClassVar[tuple[str, ...]] = ()
    #: The options ``repr`` shows (``None``: every option but the priors).
    _repr_names: ClassVar[tuple[str, ...] | None] = None
    #: Container class of the fit data, stored with its ``to_dataset`` / ``from_dataset``.
    _data_type: ClassVar[type | None] = None

    idata: xr.DataTree | None = None
    data: Any = None
    _model: pm.Model | None = None
    _seed: int | None = None

    # -------------------------------------------------------------- to implement
    def build(self, data: Any) -> pm.Model:  # pragma: no cover - abstract
        """Build (but do not fit) the model for ``data``.

        Parameters
        ----------
        data : data container
            The estimator's validated container (``IPDData`` for the IPD models, an
            effect or arm table for the synthesis models).

        Returns
        -------
        pymc.Model
            The model of the estimator's factory in :mod:`bayes_hte.models`.

        Raises
        ------
        NotImplementedError
            Always, here: each estimator implements it.
        """
        raise NotImplementedError

    def _options(self) -> dict:
        """The constructor's keywords (stored in a saved fit, used by :meth:`load`)."""
        return {name: getattr(self, name) for name in self._option_names}

    def _data_to_dataset(self, data) -> xr.Dataset:
        return data.to_dataset()

    @classmethod
    def _data_from_dataset(cls, ds: xr.Dataset):
        return cls._data_type.from_dataset(ds)

    # -------------------------------------------------------------- shared
    def __repr__(self) -> str:
        state = "fitted" if self.idata is not None else "not fitted"
        return f"{self._label()} [{state}]"

    def _label(self) -> str:
        options = self._options()
        names = self._repr_names or [k for k in options if k != "priors"]
        shown = ", ".join(f"{k}={options[k]!r}" for k in names)
        return f"{type(self).__name__}({shown})"

    def _check_convergence(self) -> None:
        """Warn (:class:`~bayes_hte.ConvergenceWarning`) when the fit just made misses a
        target over the :meth:`parameters` rows; the last step of every ``fit``."""
        if diagnostics.convergence_warnings_on():
            diagnostics.warn_if_not_converged(self.idata, self.parameters(),
                                              label=f"{self._label()}.fit")

    def _require_fit(self) -> None:
        if self.idata is None:
            raise RuntimeError(f"{type(self).__name__} is not fitted: call .fit(data) first")

    @property
    def model(self) -> pm.Model:
        """The ``pm.Model`` (rebuilt from the stored data after :meth:`load`).

        Raises
        ------
        RuntimeError
            Neither fitted nor loaded.
        """
        if self._model is None:
            if self.data is None:
                raise RuntimeError("no data: call .fit(data) first")
            self._model = self._rebuild(self.data)
        return self._model

    def _rebuild(self, data: Any) -> pm.Model:
        """The model of the fitted data (a subclass adds what else the fit used)."""
        return self.build(data)

    def _posterior(self) -> xr.Dataset:
        self._require_fit()
        return self.idata["posterior"].to_dataset()

    def _rng(self, random_seed: int | None) -> np.random.Generator:
        """Generator for new-trial / individual draws: ``random_seed`` or the fit's seed."""
        return np.random.default_rng(self._seed_or(random_seed))

    def _seed_or(self, random_seed: int | None) -> int | None:
        random_seed = check_seed("random_seed", random_seed)
        return random_seed if random_seed is not None else self._seed

    def _attach(self, idata: xr.DataTree, priors: dict, *, random_seed: int | None
                ) -> xr.DataTree:
        """Store the options, resolved priors, seed and the fit data in the result."""
        self._seed = random_seed
        post = idata["posterior"].to_dataset()
        post.attrs = dict(idata["posterior"].attrs)
        post.attrs[ATTR_ESTIMATOR] = type(self).__name__
        post.attrs[ATTR_OPTIONS] = json.dumps(self._options())
        post.attrs[ATTR_PRIORS] = priors_to_json(priors)
        post.attrs[ATTR_VERSION] = PACKAGE_VERSION
        if random_seed is not None:
            post.attrs[ATTR_SEED] = int(random_seed)
        idata["posterior"] = xr.DataTree(post)
        idata[self.data_group] = xr.DataTree(self._data_to_dataset(self.data))
        return idata

    def save(self, path: str | Path) -> Path:
        """Write the posterior, the fit data and the options to one NetCDF file.

        Parameters
        ----------
        path : str or pathlib.Path
            Target file (``.nc``); overwritten if it exists.

        Returns
        -------
        pathlib.Path
            ``path``.

        Raises
        ------
        RuntimeError
            The estimator is not fitted.
        """
        self._require_fit()
        path = Path(path)
        tree = self.idata.copy()
        if "sample_stats" in tree:  # object columns (messages) cannot go to NetCDF
            ss = tree["sample_stats"].to_dataset()
            ss = ss.drop_vars([v for v in ss.data_vars if ss[v].dtype == object])
            tree["sample_stats"] = xr.DataTree(ss)
        tree.to_netcdf(path, engine="h5netcdf")
        return path

    @classmethod
    def load(cls, path: str | Path) -> Self:
        """Rebuild a fitted estimator saved by :meth:`save` (also files written by 0.1).

        Posterior variables renamed since (:attr:`renamed_vars`) get their new names.

        Parameters
        ----------
        path : str or pathlib.Path
            A file written by :meth:`save`.

        Returns
        -------
        Estimator
            Fitted, with ``idata`` and ``data`` restored; :attr:`fitted_version` is the
            version of bayes_hte that wrote the file (files of another version load).

        Raises
        ------
        FileNotFoundError
            No file at ``path``.
        ValueError
            The file holds another estimator, or a posterior lacking a free variable of
            the model its stored options and data build (a fit of a different model).
        """
        if not Path(path).is_file():  # h5py's traceback said so in 40 lines
            raise FileNotFoundError(f"no posterior file {str(path)!r} (saved by .save(path))")
        with xr.open_datatree(path, engine="h5netcdf") as opened:
            tree = opened.load()
        attrs = tree["posterior"].attrs
        if attrs.get(ATTR_ESTIMATOR) != cls.__name__:
            raise ValueError(f"{path} holds a {attrs.get(ATTR_ESTIMATOR)!r}, "
                             f"not a {cls.__name__}")
        obj = cls(**json.loads(attrs[ATTR_OPTIONS]))
        old = {k: v for k, v in cls.renamed_vars.items() if k in tree["posterior"]}
        if old:
            post = tree["posterior"].to_dataset().rename_vars(old)
            post.attrs = dict(attrs)
            tree["posterior"] = xr.DataTree(post)
        obj.idata = tree
        obj.data = cls._data_from_dataset(tree[cls.data_group].to_dataset())
        missing = sorted(rv.name for rv in obj.model.free_RVs
                         if rv.name not in tree["posterior"])
        if missing:
            raise ValueError(f"{path} is not a fit of the {obj!r} its stored options and "
                             f"data build: its posterior lacks {missing} (written by "
                             f"bayes_hte {attrs.get(ATTR_VERSION, 'before 0.1.0')})")
        seed = attrs.get(ATTR_SEED)
        obj._seed = None if seed is None else int(seed)
        return obj

    def prior_sensitivity(self, *, threshold: float = sensitivity.THRESHOLD,
                          alphas: tuple[float, float] = (0.99, 1.01)) -> pd.DataFrame:
        """Prior and likelihood sensitivity of the parameters by power-scaling.

        Parameters
        ----------
        threshold : float
            Sensitivity above which the prior or the likelihood counts as influential
            (0.05, Kallioinen et al. 2024).
        alphas : tuple of float
            Power-scaling exponents of the finite-difference derivative.

        Returns
        -------
        pandas.DataFrame
            One row per element of the parameters ``parameters()`` lists:
            ``parameter``, ``prior_sensitivity``, ``likelihood_sensitivity``,
            ``diagnosis`` ("potential prior-data conflict", "potential strong prior /
            weak likelihood" or "✓"), from the stored priors and the pointwise log
            likelihood without refitting (:func:`bayes_hte.sensitivity.prior_sensitivity`:
            Kallioinen, Paananen, Bürkner & Vehtari 2024, Stat Comput 34:57).

        Raises
        ------
        RuntimeError
            The estimator is not fitted.
        ValueError
            The fit has no ``log_likelihood`` group (fitted with
            ``log_likelihood=False``).
        """
        self._require_fit()
        names = list(dict.fromkeys(str(i).split("[", 1)[0] for i in self.parameters().index))
        return sensitivity.prior_sensitivity(self.idata, var_names=names,
                                             threshold=threshold, alphas=alphas)

    @property
    def fitted_version(self) -> str | None:
        """Version of bayes_hte that fitted the loaded or fitted posterior (``None``
        for files written before versions were stored, or when not fitted)."""
        if self.idata is None:
            return None
        return self.idata["posterior"].attrs.get(ATTR_VERSION)


class IPDEstimator(Estimator):
    """Base of the individual-level estimators (``ite`` / ``cate`` on IPD)."""

    data_group: ClassVar[str] = "ipd_data"
    data: IPDData | None = None
    _data_type = IPDData

    def _check_data(self, data) -> None:
        if not isinstance(data, IPDData):
            raise DataError(f"expected an IPDData (bh.IPDData.from_frame), got "
                            f"{type(data).__name__}")

    def _frame(self, newdata: pd.DataFrame | None) -> pd.DataFrame:
        self._require_fit()
        if isinstance(newdata, pd.DataFrame) and len(newdata) == 0:
            raise DataError("newdata has no rows: give at least one patient to predict for")
        return self.data.frame if newdata is None else newdata

    def _check_by(self, by: str, newdata: pd.DataFrame | None) -> pd.Series:
        """The column ``by`` of the (new) data, checked before any estimand is computed."""
        if not isinstance(by, str):
            raise ValueError(f"cate(by=...) takes one column name, got {by!r}; to group by "
                             "several columns make one first, e.g. newdata = "
                             "df.assign(group=df['a'].astype(str) + ' / ' + df['b'].astype(str))")
        frame = self._frame(newdata)
        if by == getattr(getattr(self, "data", None), "outcome", None):
            warnings.warn(f"cate(by={by!r}) groups patients by their outcome, which the "
                          "treatment affects: such groups are not subgroups defined before "
                          "treatment, and their mean ITEs are not the effects of comparable "
                          "subgroups", DataWarning, stacklevel=3)
        if by not in frame.columns:
            raise DataError(f"cate(by={by!r}): no such column; available: "
                            f"{list(map(str, frame.columns))}")
        if frame[by].isna().any():
            raise DataError(f"cate(by={by!r}): the column has missing values at "
                            f"{format_rows(frame.index[frame[by].isna()])}")
        col = frame[by]
        n_levels = col.nunique()
        if (pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)
                and n_levels > MAX_CATE_LEVELS):
            raise DataError(
                f"cate(by={by!r}): the column has {n_levels} distinct values (a continuous "
                f"variable?), so each group would be about one patient. Group it first, "
                f"e.g. newdata = df.assign(group=pd.qcut(df[{by!r}], 4)) and "
                f"cate(by='group', newdata=newdata); for the effect per patient use ite()"
            )
        return col

    @staticmethod
    def _group_by(values: xr.DataArray, groups: pd.Series, by: str) -> xr.DataArray:
        """Average per-patient ``values`` (chain, draw, patient) within levels of ``by``."""
        out = effects.group_mean(values, groups, name=by)
        out.name = "cate"
        return out
