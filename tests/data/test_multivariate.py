"""validate_multivariate: study estimate vectors and covariances, studies named by label."""

import numpy as np
import pytest

from bayes_hte.data.multivariate import validate_multivariate
from bayes_hte.errors import DataError


def test_validate_multivariate_names_studies_by_label():
    y = np.array([[0.1, 0.2], [0.3, np.nan], [0.2, 0.1]])
    S = np.tile(np.eye(2) * 0.01, (3, 1, 1))
    S[2] = [[0.01, 0.02], [0.02, 0.01]]
    labels = ["Ramfjord", "Becker", "Knowles"]
    with pytest.raises(DataError, match="not positive definite .* in study 'Knowles'"):
        validate_multivariate(y, S, study_labels=labels)
    with pytest.raises(DataError, match="not positive definite .* in study '3'"):
        validate_multivariate(y, S)                      # no labels: the position from 1
    S[2] = np.eye(2) * 0.01
    y[0] = np.nan
    with pytest.raises(DataError, match="no component is reported in study 'Ramfjord'"):
        validate_multivariate(y, S, study_labels=labels)
    with pytest.raises(DataError, match="study_labels has 2 entries for 3 studies"):
        validate_multivariate(y, S, study_labels=labels[:2])
