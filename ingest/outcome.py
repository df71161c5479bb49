"""What ingesting one file did: its ledger record, seen from the file that was offered."""

from __future__ import annotations

from dataclasses import dataclass

from core.ledger import REJECTED, LedgerRecord


@dataclass(frozen=True)
class Outcome:
    record: LedgerRecord
    file_name: str  # the name the file was offered under this time, as output shows it (ingest.inbox.shown_name)
    known: bool = False  # the ledger had these bytes already: nothing was done

    @classmethod
    def restated(cls, record: LedgerRecord, file_name: str) -> Outcome:
        """Known bytes, reported as the ledger has them: a rejected file stays rejected."""
        return cls(record, file_name, known=True)

    @property
    def status(self) -> str:
        """accepted | rejected | known (known bytes that were accepted before)."""
        if self.known and self.record.status != REJECTED:
            return "known"
        return self.record.status

    @property
    def submission_id(self) -> str:
        return self.record.submission_id

    @property
    def federation_code(self) -> str | None:
        return self.record.federation_code

    @property
    def period(self) -> str | None:
        """A survey's period, or the month a register extract reaches."""
        return self.record.period or self.record.extract_month

    @property
    def rows_ok(self) -> int:
        return self.record.rows_ok

    @property
    def errors(self) -> int:
        return self.record.errors

    @property
    def warnings(self) -> int:
        return self.record.warnings

    @property
    def first_problem(self) -> str | None:
        return self.record.first_problem

    def to_dict(self) -> dict:
        r = self.record
        return {"submission_id": r.submission_id, "file_name": self.file_name, "status": self.status,
                "federation_code": r.federation_code, "period": self.period, "rows_ok": r.rows_ok,
                "errors": r.errors, "warnings": r.warnings, "first_problem": r.first_problem}

    def summary(self) -> str:
        """The line `nns ingest` prints and the task logs (submission_format.md §8.2, register_extracts.md §7)."""
        r = self.record
        who = " ".join(x for x in (r.federation_code, self.period) if x) or "?"
        if self.status == "rejected":
            return (f"REJECTED {self.file_name} ({who}), submission {r.submission_id[:12]}: "
                    + ("already ingested, " if self.known else "")  # the same bytes again: still rejected
                    + f"{r.errors} error(s), first: {r.first_problem} "
                    f"Details: lake/quarantine/{r.submission_id}/errors.json. "
                    f"After a corrected file arrives: nns ingest <file> (or clear this task).")
        if self.status == "known":
            return f"already ingested {self.file_name} ({who}), submission {r.submission_id[:12]}: nothing to do"
        rows = "rows" if r.is_register else "questionnaire rows"  # a survey's rows are questionnaires
        line = (f"accepted {self.file_name} ({who}), submission {r.submission_id[:12]}: {r.rows_ok} {rows}, "
                f"{r.warnings} warning(s)")
        if r.warnings:  # what to pass on to the sender, as for a rejection
            line += f", first: {r.first_problem} Details: {r.raw_path}/manifest.json"
        return line
