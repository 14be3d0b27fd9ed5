"""A/A runs: legacy against legacy on identical state. Every difference here would be noise the rules file must
explain; every rule must be needed by one (an unneeded rule could only hide a real difference)."""

from __future__ import annotations

from pathlib import Path

from parity_tests.harness import HarnessConfig, run_parity

RULES = Path(__file__).resolve().parent / "noise_rules.toml"


def test_aa_run_over_the_corpus_needs_every_rule_and_finds_nothing_else(tmp_path: Path) -> None:
    run = run_parity(HarnessConfig(aa=True, generated=20, workspace=tmp_path, rules_file=RULES))
    assert run.aa and run.cases
    assert [case.case_id for case in run.mismatched] == []
    assert run.rules_unused == ()
    assert run.ok


def test_aa_run_reports_a_rule_no_difference_needed(tmp_path: Path) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text(
        RULES.read_text(encoding="utf-8")
        + '\n[[rule]]\nfeature = "papertrail"\nroute = "*"\nmethod = "GET"\naction = "ignore"\n'
        'pointer = "/body/board/updatedAt"\nreason = "a rule nobody needs"\n',
        encoding="utf-8",
    )
    run = run_parity(HarnessConfig(aa=True, features=("papertrail",), workspace=tmp_path, rules_file=rules))
    assert run.cases and not run.mismatched
    assert run.rules_unused == ("papertrail:GET:*:/body/board/updatedAt",)
    assert not run.ok and run.exit_code == 1
