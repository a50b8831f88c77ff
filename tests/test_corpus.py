"""Every case of the hostile input corpus (tests/corpus) ends with its one-line message and
exit code: no traceback, no hang, nothing half-written."""

import pytest
from corpus import Case, cases, run

CASES = cases()


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_case_is_answered_in_one_line(case: Case, tmp_path):
    before = set(tmp_path.iterdir())
    result = run(case, tmp_path)
    assert "Traceback" not in result.err + result.out
    assert result.code == case.code, result.err or result.out
    assert case.message in result.line
    if case.code == 2:
        assert result.line.startswith("dexplorer: error: ")
        assert all(line.startswith("dexplorer: ") for line in result.err.strip().splitlines())
        written = set(tmp_path.iterdir()) - before
        assert not [p for p in written if ".partial" in p.name], "a temporary file was left"
