"""The store writes one Parquet part per task (a chunk of replicates) and resumes by key."""

from __future__ import annotations

import json

import pandas as pd
import pyarrow.parquet as pq
import pytest

from bayes_hte.studies import engine as engine_mod
from bayes_hte.studies import load, run
from bayes_hte.studies import store as store_mod
from tests.studies import _toy


def _values(est: pd.DataFrame) -> pd.DataFrame:
    return est.drop(columns="seconds")


def _stamps(parts) -> dict[str, tuple[int, int]]:
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in parts.glob("*.parquet")}


def _counted(replicates: int = 6):
    return _toy.make_study(methods={"DL": _toy.counted_dl}, replicates=replicates)


@pytest.fixture(scope="module")
def uninterrupted():
    """The counted toy study, 4 scenarios x 6 replicates, in memory."""
    return run(_counted(), progress=False)


def test_chunked_run_writes_one_part_per_task_and_resumes_after_a_part_is_removed(
        tmp_path, monkeypatch, uninterrupted):
    store, counter = tmp_path / "s", tmp_path / "fits.txt"
    parts = store / "parts"
    first = run(_counted(), store=store, chunk=3, progress=False)
    names = sorted(_stamps(parts))
    assert names == sorted(f"s{s}_r{r}.parquet" for s in range(4) for r in ("0-2", "3-5"))
    assert len(names) == 8 < 4 * 6                       # fewer parts than replicates
    assert json.loads((store / "study.json").read_text())["format"] == 2
    table = pq.read_table(parts / "s1_r3-5.parquet").to_pandas()
    assert sorted(set(zip(table["scenario"], table["replicate"], strict=True))) == [
        (1, 3), (1, 4), (1, 5)]                          # the name says what it holds
    pd.testing.assert_frame_equal(_values(first.estimates), _values(uninterrupted.estimates))

    (parts / "s1_r3-5.parquet").unlink()                 # a lost (or never written) task
    before = _stamps(parts)
    monkeypatch.setenv("BAYES_HTE_TOY_COUNTER", str(counter))
    study = _counted()
    res = run(study, store=store, chunk=3, progress=False)
    assert res.n_run == 3 and res.n_skipped == 21
    fits = counter.read_text().split()
    assert sorted(fits) == sorted(_toy.data_hash(study.data(1, r)) for r in (3, 4, 5))
    after = _stamps(parts)
    assert set(after) == set(names)
    assert {k: after[k] for k in before} == before       # no finished part rewritten
    pd.testing.assert_frame_equal(_values(res.estimates), _values(uninterrupted.estimates))
    unchanged = res.estimates[~((res.estimates["scenario"] == 1)
                                & (res.estimates["replicate"] >= 3))]
    pd.testing.assert_frame_equal(unchanged, first.estimates.loc[unchanged.index])

    # another chunk size fills a gap with tasks of consecutive replicates only
    (parts / "s2_r0-2.parquet").unlink()
    counter.unlink()
    res = run(study, store=store, chunk=2, progress=False)
    assert res.n_run == 3 and len(counter.read_text().split()) == 3
    assert {"s2_r0-1.parquet", "s2_r2.parquet"} <= set(_stamps(parts))
    pd.testing.assert_frame_equal(_values(load(store).estimates),
                                  _values(uninterrupted.estimates))


def test_a_store_of_one_part_per_replicate_still_loads_and_resumes(tmp_path, uninterrupted):
    store = tmp_path / "s"
    old = run(_counted(), store=store, replicates=2, progress=False)  # chunk=1
    assert sorted(_stamps(store / "parts")) == sorted(
        f"s{s}_r{r}.parquet" for s in range(4) for r in range(2))
    info = json.loads((store / "study.json").read_text())
    info["format"] = 1                                   # as written before parts per task
    (store / "study.json").write_text(json.dumps(info))
    pd.testing.assert_frame_equal(load(store).estimates, old.estimates)
    res = run(_counted(), store=store, chunk=3, progress=False)
    assert res.n_skipped == 8 and res.n_run == 16
    assert sorted(_stamps(store / "parts")) == sorted(
        [f"s{s}_r{r}.parquet" for s in range(4) for r in range(2)]
        + [f"s{s}_r{r}.parquet" for s in range(4) for r in ("2-4", "5")])
    pd.testing.assert_frame_equal(_values(res.estimates), _values(uninterrupted.estimates))
    assert json.loads((store / "study.json").read_text())["format"] == 2


def test_fewer_replicates_and_keys_held_twice(tmp_path, uninterrupted):
    store = tmp_path / "s"
    run(_counted(), store=store, chunk=3, progress=False)
    few = run(_counted(), store=store, replicates=2, chunk=3, progress=False)
    assert few.n_run == 0 and sorted(few.estimates["replicate"].unique()) == [0, 1]
    ref = uninterrupted.estimates
    pd.testing.assert_frame_equal(_values(few.estimates),
                                  _values(ref[ref["replicate"] < 2].reset_index(drop=True)))
    # a key present in two parts (stores merged by hand) is read once
    full = load(store).estimates
    table = pq.read_table(store / "parts" / "s0_r0-2.parquet")
    one = table.filter(table["replicate"].to_numpy() == 1)
    pq.write_table(one, store / "parts" / "s0_r1.parquet")
    pd.testing.assert_frame_equal(load(store).estimates, full)


def test_tasks_are_runs_of_consecutive_replicates():
    pending = [(0, 0), (1, 0), (0, 1), (0, 3), (1, 1), (0, 4), (0, 5), (1, 2)]
    assert engine_mod._tasks(pending, 2) == [(0, [0, 1]), (1, [0, 1]), (0, [3, 4]),
                                             (0, [5]), (1, [2])]
    assert engine_mod._tasks(pending, 1) == [(s, [r]) for s, r in pending]
    assert store_mod._part_name(3, [7]) == "s3_r7.parquet"
    assert store_mod._part_name(3, [7, 8, 9]) == "s3_r7-9.parquet"
    assert store_mod._part_keys("s3_r7-9.parquet") == [(3, 7), (3, 8), (3, 9)]
    assert store_mod._part_keys(".s3_r7.parquet.1.ab.tmp") is None
    with pytest.raises(ValueError, match="consecutive"):
        store_mod._part_name(3, [7, 9])
