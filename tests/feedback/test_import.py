"""manage.py import_feedback: streamed CSV/JSONL import, line-numbered rejections, progress,
throughput, idempotent re-runs and backfill."""

import io
import json
import re

import pytest
from django.core.management import CommandError, call_command

from feedback.connectors import importer
from feedback.models import FeedbackItem, Source

pytestmark = pytest.mark.django_db


def run(path, *args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("import_feedback", str(path), *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def jsonl(tmp_path, rows, name="posts.jsonl"):
    path = tmp_path / name
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write((row if isinstance(row, str) else json.dumps(row)) + "\n")
    return path


def post(n: int, **fields) -> dict:
    return {
        "external_id": f"hist-{n}",
        "body": f"Order #{n} arrived damaged, who do I talk to?",
        "author": {"handle": f"customer{n % 50}", "followers": n % 1000},
        "posted_at": "2025-03-01T10:00:00Z",
        **fields,
    }


@pytest.fixture
def archive(db):
    return Source.objects.create(slug="archive", name="Support archive", kind=Source.Kind.EMAIL)


class TestJsonl:
    def test_a_few_thousand_lines_import_with_a_progress_bar_and_throughput(
        self, tmp_path, archive
    ):
        path = jsonl(tmp_path, (post(n) for n in range(3000)))

        out, err = run(path, "--source", "archive", "--progress")

        assert FeedbackItem.objects.filter(source=archive).count() == 3000
        assert re.search(r"3000 lines in [\d.]+ s \([\d,]+ lines/s\): 3000 created", out)
        # tqdm draws to stderr: the file name, a percentage and the running line count.
        assert "Importing posts.jsonl" in err and "100%" in err and "lines=3,000" in err

    def test_no_progress_bar_when_not_a_terminal_or_when_asked(self, tmp_path, archive):
        path = jsonl(tmp_path, [post(1)])
        assert "Importing" not in run(path, "--source", "archive")[1]  # StringIO: no TTY
        assert "Importing" not in run(path, "--source", "archive", "--no-progress")[1]

    def test_bad_lines_are_listed_and_the_good_ones_imported(self, tmp_path, archive):
        path = jsonl(
            tmp_path,
            [
                post(1),
                '{"external_id": "hist-2", "body": "cut off',  # line 2: not JSON
                post(3, body=""),  # line 3: blank body
                "",  # line 4: blank lines are skipped, not rejected
                post(5, posted_at="yesterday"),
                '["a", "list"]',  # line 6: not an object
                post(7, author={"followers": 3}),
                post(8),
            ],
        )

        out, err = run(path, "--source", "archive")

        assert set(FeedbackItem.objects.values_list("external_id", flat=True)) == {
            "hist-1",
            "hist-8",
        }
        report = [line for line in out.splitlines() if line.startswith("line ")]
        assert report == [
            "line 2: json: Invalid JSON: Unterminated string starting at column 35.",
            "line 3: body: This field may not be blank.",
            "line 5: posted_at: Expected an ISO 8601 date-time, e.g. 2026-11-02T14:30:00Z.",
            "line 6: Expected an object.",
            "line 7: author.handle: This field is required.",
        ]
        assert "7 lines in" in out and "2 created, 0 duplicate, 5 rejected" in out
        assert "5 line(s) were rejected" in err

    def test_strict_fails_after_importing_the_good_lines(self, tmp_path, archive):
        path = jsonl(tmp_path, [post(1), "not json"])

        with pytest.raises(CommandError, match=r"1 line\(s\) were rejected.*--strict"):
            run(path, "--source", "archive", "--strict")
        assert FeedbackItem.objects.filter(external_id="hist-1").exists()

    def test_running_twice_finds_only_duplicates(self, tmp_path, archive):
        path = jsonl(tmp_path, (post(n) for n in range(1200)))
        run(path, "--source", "archive")
        before = list(FeedbackItem.objects.order_by("pk").values_list("pk", "body", "author_id"))

        out, _ = run(path, "--source", "archive")

        assert "0 created, 1200 duplicate, 0 rejected" in out
        assert (
            list(FeedbackItem.objects.order_by("pk").values_list("pk", "body", "author_id"))
            == before
        )

    def test_backfill_marks_every_item_as_history(self, tmp_path, archive):
        path = jsonl(tmp_path, (post(n) for n in range(10)))

        out, _ = run(path, "--source", "archive", "--backfill")

        assert "(backfill)" in out
        assert FeedbackItem.objects.filter(backfill=True).count() == 10

    def test_without_backfill_items_are_live(self, tmp_path, archive):
        run(jsonl(tmp_path, [post(1)]), "--source", "archive")
        assert FeedbackItem.objects.get().backfill is False

    def test_a_line_may_name_another_source(self, tmp_path, archive, other_source):
        path = jsonl(tmp_path, [post(1, source="reddit"), post(2), post(3, source="nope")])

        out, _ = run(path, "--source", "archive")

        assert FeedbackItem.objects.get(external_id="hist-1").source == other_source
        assert FeedbackItem.objects.get(external_id="hist-2").source == archive
        assert "line 3: source: Unknown source 'nope'." in out

    def test_the_file_is_stored_in_chunks_of_500(self, tmp_path, archive, monkeypatch):
        sizes = []
        real = importer.feedback_ingest

        def spy(**kwargs):
            sizes.append(len(kwargs["payloads"]))
            return real(**kwargs)

        monkeypatch.setattr(importer, "feedback_ingest", spy)
        run(jsonl(tmp_path, (post(n) for n in range(1234))), "--source", "archive")

        assert sizes == [500, 500, 234]

    def test_invalid_utf8_is_reported_with_its_line(self, tmp_path, archive):
        path = tmp_path / "posts.jsonl"
        path.write_bytes(
            json.dumps(post(1)).encode() + b"\n" + b'{"external_id": "x", "body": "caf\xe9"}\n'
        )

        out, _ = run(path, "--source", "archive")

        assert "line 2: encoding: Not valid UTF-8 (byte 0xe9 at position 34)." in out
        assert FeedbackItem.objects.count() == 1


CSV_HEADER = (
    "external_id,body,author_handle,author_name,author_followers,url,posted_at,language,"
    "in_reply_to,raw.rating\n"
)


class TestCsv:
    def test_all_columns_quoted_newlines_and_a_byte_order_mark(self, tmp_path, archive):
        path = tmp_path / "reviews.csv"
        path.write_bytes(
            b"\xef\xbb\xbf"
            + (
                CSV_HEADER
                + 'r-1,"Two lines,\nwith a comma",dana,Dana K,120,https://shop.example/r/1,'
                "2025-01-05T08:00:00Z,en,,2\n"
                "r-2,Delivery was quick,,,,,,,r-1,5\n"
            ).encode()
        )

        out, _ = run(path, "--source", "archive")

        assert "2 lines in" in out and "2 created" in out
        first = FeedbackItem.objects.get(external_id="r-1")
        assert first.body == "Two lines,\nwith a comma"
        assert (first.author.handle, first.author.name, first.author.followers) == (
            "dana", "Dana K", 120,
        )  # fmt: skip
        assert first.url == "https://shop.example/r/1" and first.language == "en"
        assert first.raw == {"rating": "2"}
        second = FeedbackItem.objects.get(external_id="r-2")
        assert second.author is None and second.in_reply_to == "r-1"

    def test_bad_rows_are_reported_by_their_first_line_and_column(self, tmp_path, archive):
        path = tmp_path / "reviews.csv"
        path.write_text(
            CSV_HEADER
            + 'r-1,"spans\ntwo lines",,,,,,,,\n'  # lines 2-3, fine
            + "r-2,ok,dana,,lots,,,,,\n"  # line 4: followers not a number
            + "r-3,,,,,,,,,\n"  # line 5: empty body
            + "r-4,too,many,columns,,,,,,,,,\n"  # line 6
            + "r-5,bad date,,,,,2025-13-45,,,\n"  # line 7
            + ",no id,,,,,,,,\n"  # line 8
            + "r-6,fine,,,,,,,,\n",
            encoding="utf-8",
        )

        out, _ = run(path, "--source", "archive", "--format", "csv")

        report = [line for line in out.splitlines() if line.startswith("line ")]
        assert report == [
            "line 4: author_followers: Expected a whole number.",
            "line 5: body: This field may not be blank.",
            "line 6: csv: Expected 10 columns, found 13.",
            "line 7: posted_at: Expected an ISO 8601 date-time, e.g. 2026-11-02T14:30:00Z.",
            "line 8: external_id: This field is required.",
        ]
        assert set(FeedbackItem.objects.values_list("external_id", flat=True)) == {"r-1", "r-6"}

    def test_unknown_or_missing_columns_make_the_file_unusable(self, tmp_path, archive):
        typo = tmp_path / "typo.csv"
        typo.write_text("external_id,body,posted\nx,y,z\n")
        with pytest.raises(CommandError, match=r"Unknown CSV column\(s\): posted\. Known"):
            run(typo, "--source", "archive")

        no_body = tmp_path / "no_body.csv"
        no_body.write_text("external_id,url\nx,https://a.example\n")
        with pytest.raises(CommandError, match="lacks the column\\(s\\): body"):
            run(no_body, "--source", "archive")
        assert not FeedbackItem.objects.exists()


class TestUnusableInput:
    def test_unknown_source_lists_the_known_ones(self, tmp_path, archive, other_source):
        with pytest.raises(
            CommandError, match=r"Unknown source 'shop'\. Known sources: archive, reddit"
        ):
            run(jsonl(tmp_path, [post(1)]), "--source", "shop")

    def test_disabled_source_is_refused(self, tmp_path, archive):
        Source.objects.filter(pk=archive.pk).update(active=False)
        with pytest.raises(CommandError, match="disabled"):
            run(jsonl(tmp_path, [post(1)]), "--source", "archive")

    def test_missing_file(self, tmp_path, archive):
        with pytest.raises(CommandError, match="No such file"):
            run(tmp_path / "nope.jsonl", "--source", "archive")

    def test_format_must_be_known(self, tmp_path, archive):
        path = tmp_path / "posts.txt"
        path.write_text("{}\n")
        with pytest.raises(CommandError, match="pass --format csv or --format jsonl"):
            run(path, "--source", "archive")

    def test_empty_file_imports_nothing(self, tmp_path, archive):
        path = tmp_path / "empty.jsonl"
        path.write_text("")
        out, _ = run(path, "--source", "archive")
        assert "0 lines in" in out
