"""RSS/Atom feeds served from a local HTTP server: new entries come in once, a 304 changes
nothing, a broken feed is logged, backed off and retried without stopping the others."""

import socket
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone

from feedback.connectors import feeds
from feedback.connectors.feeds import feed_claim, feed_poll, feeds_claim_due
from feedback.connectors.html import html_to_text
from feedback.models import Feed, FeedbackItem, Source
from feedback.tasks import poll_due_feeds, poll_feed

pytestmark = pytest.mark.django_db

RSS = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel>
  <title>Acme Community Forum: Support</title>
  <link>https://forum.acme.example/c/support</link>
  <description>Latest topics in Support</description>
  <language>en-gb</language>
  <item>
    <title>App crashes when uploading a photo</title>
    <link>https://forum.acme.example/t/app-crashes/101</link>
    <guid isPermaLink="false">forum-topic-101</guid>
    <dc:creator>dana_k</dc:creator>
    <pubDate>Mon, 02 Nov 2026 14:30:00 +0000</pubDate>
    <category>android</category>
    <description><![CDATA[<p>Every time I upload a photo the app <b>crashes</b> &amp; I lose
      my draft.</p><p>Version 4.2 on a Pixel&nbsp;8.</p><script>track('x')</script>
      <ul><li>open the editor</li><li>attach a photo</li></ul>]]></description>
  </item>
  <item>
    <title>Promo code SAVE20 rejected at checkout</title>
    <link>https://forum.acme.example/t/save20/102</link>
    <guid>https://forum.acme.example/t/save20/102</guid>
    <dc:creator>sam.o</dc:creator>
    <pubDate>Tue, 03 Nov 2026 09:05:00 GMT</pubDate>
    <description>The code from your newsletter says &lt;em&gt;invalid&lt;/em&gt;.</description>
  </item>
  {extra}
</channel>
</rss>
"""

RSS_EXTRA_ITEM = """<item>
    <title>Any openings for drivers in Leeds?</title>
    <link>https://forum.acme.example/t/jobs/103</link>
    <guid isPermaLink="false">forum-topic-103</guid>
    <pubDate>Wed, 04 Nov 2026 18:00:00 GMT</pubDate>
    <description>I would love to work with you.</description>
  </item>"""

ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="de">
  <title>Acme Blog: comments</title>
  <id>urn:uuid:60a76c80-d399-11d9-b93C-0003939e0af6</id>
  <updated>2026-11-03T09:00:00Z</updated>
  <link rel="self" href="https://blog.acme.example/comments.atom"/>
  <entry>
    <title type="text">Re: Neue Lieferzeiten</title>
    <id>tag:blog.acme.example,2026:comment-501</id>
    <link rel="alternate" href="/2026/11/lieferzeiten#comment-501"/>
    <published>2026-11-03T08:10:00+01:00</published>
    <updated>2026-11-03T08:15:00Z</updated>
    <author><name>Jonas Weber</name><uri>https://jonas.example/</uri></author>
    <content type="html">&lt;p&gt;Die neuen Lieferzeiten sind super,&lt;br&gt;aber
      die App zeigt sie nicht an.&lt;/p&gt;</content>
  </entry>
  <entry xml:lang="en">
    <title>Dark mode please</title>
    <id>tag:blog.acme.example,2026:comment-502</id>
    <link rel="alternate" href="https://blog.acme.example/2026/11/roadmap#comment-502"/>
    <updated>2026-11-03T08:40:00Z</updated>
    <summary type="text">Please add a dark mode, my eyes hurt at night.</summary>
    <content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml"><p>Please add a
      <strong>dark mode</strong>, my eyes hurt at night.</p></div></content>
  </entry>
</feed>
"""

NOT_A_FEED = b"<!doctype html><html><head><title>Log in</title></head><body><form>" + (
    b"<input name=user></form></body></html>"
)


class FeedServer:
    """A local HTTP server for feed documents, honouring ETag / Last-Modified validators."""

    def __init__(self) -> None:
        self.routes: dict[str, dict] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests.append((self.path, dict(self.headers)))
                route = server.routes.get(self.path)
                if route is None:
                    self.send_error(404)
                    return
                time.sleep(route.get("delay", 0))
                if route.get("location"):
                    self.send_response(route.get("status", 302))
                    self.send_header("Location", route["location"])
                    self.end_headers()
                    return
                if route.get("status", 200) != 200:
                    self.send_error(route["status"])
                    return
                etag, modified = route.get("etag"), route.get("last_modified")
                if (etag and self.headers.get("If-None-Match") == etag) or (
                    modified and self.headers.get("If-Modified-Since") == modified
                ):
                    self.send_response(304)
                    self.end_headers()
                    return
                body = route["body"]
                self.send_response(200)
                self.send_header("Content-Type", route.get("content_type", "application/xml"))
                self.send_header("Content-Length", str(len(body)))
                if etag:
                    self.send_header("ETag", etag)
                if modified:
                    self.send_header("Last-Modified", modified)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:  # keep the test output quiet
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def serve(self, path: str, body: str | bytes, **options) -> str:
        data = body.encode() if isinstance(body, str) else body
        self.routes[path] = {"body": data, **options}
        return self.base + path

    def hits(self, path: str) -> list[dict[str, str]]:
        return [headers for p, headers in self.requests if p == path]


@pytest.fixture
def server():
    feed_server = FeedServer()
    thread = threading.Thread(target=feed_server.httpd.serve_forever, daemon=True)
    thread.start()
    yield feed_server
    feed_server.httpd.shutdown()
    feed_server.httpd.server_close()


@pytest.fixture
def forum(db):
    return Source.objects.create(slug="acme-forum", name="Acme forum", kind=Source.Kind.RSS)


def make_feed(source, url, **fields) -> Feed:
    # Added long before the fixture entries were posted, so they count as new posts.
    fields.setdefault("created_at", datetime(2026, 1, 1, tzinfo=UTC))
    return Feed.objects.create(source=source, url=url, **fields)


def rss(extra: str = "") -> str:
    return RSS.replace("{extra}", extra)


def snapshot() -> list[tuple]:
    return list(
        FeedbackItem.objects.order_by("pk").values_list(
            "pk", "external_id", "body", "url", "posted_at", "author__handle", "raw", "backfill"
        )
    )


class TestRss:
    def test_new_entries_are_stored_once_with_plain_text_bodies(self, server, forum):
        feed = make_feed(forum, server.serve("/forum.rss", rss(), etag='"v1"'))

        result = feed_poll(feed=feed)

        assert (result.status, result.created, result.duplicates, result.rejected) == (
            "ok", 2, 0, 0,
        )  # fmt: skip
        crash = FeedbackItem.objects.get(external_id="forum-topic-101")
        assert crash.source == forum
        assert crash.body == (
            "App crashes when uploading a photo\n\n"
            "Every time I upload a photo the app crashes & I lose my draft.\n\n"
            "Version 4.2 on a Pixel 8.\n\n- open the editor\n- attach a photo"
        )
        assert crash.url == "https://forum.acme.example/t/app-crashes/101"
        assert crash.author.handle == "dana_k"
        assert crash.posted_at == datetime(2026, 11, 2, 14, 30, tzinfo=UTC)
        assert crash.language == "en-gb"
        assert crash.backfill is False
        assert crash.raw["title"] == "App crashes when uploading a photo"
        assert crash.raw["tags"] == ["android"]
        assert crash.raw["feed_title"] == "Acme Community Forum: Support"
        promo = FeedbackItem.objects.get(external_id="https://forum.acme.example/t/save20/102")
        assert promo.body.endswith("The code from your newsletter says invalid.")

        feed.refresh_from_db()
        assert feed.etag == '"v1"' and feed.last_status == "ok" and feed.last_error == ""
        assert feed.next_poll_at == feed.last_polled_at + timedelta(seconds=900)

    def test_a_304_changes_nothing_but_the_poll_times(self, server, forum):
        feed = make_feed(forum, server.serve("/forum.rss", rss(), etag='"v1"'))
        feed_poll(feed=feed)
        before = snapshot()
        first_poll = feed.last_polled_at

        result = feed_poll(feed=feed)

        assert result.status == "not_modified" and result.http_status == 304
        assert server.hits("/forum.rss")[-1]["If-None-Match"] == '"v1"'
        assert snapshot() == before
        feed.refresh_from_db()
        assert feed.last_polled_at > first_poll and feed.etag == '"v1"'
        assert feed.last_status == "not_modified" and feed.consecutive_failures == 0

    def test_last_modified_is_sent_back_as_if_modified_since(self, server, forum):
        stamp = "Wed, 04 Nov 2026 18:00:00 GMT"
        feed = make_feed(forum, server.serve("/forum.rss", rss(), last_modified=stamp))
        feed_poll(feed=feed)

        assert feed_poll(feed=feed).status == "not_modified"
        assert server.hits("/forum.rss")[-1]["If-Modified-Since"] == stamp

    def test_without_validators_a_repoll_finds_only_duplicates(self, server, forum):
        feed = make_feed(forum, server.serve("/forum.rss", rss()))
        feed_poll(feed=feed)
        before = snapshot()

        result = feed_poll(feed=feed)

        assert (result.status, result.created, result.duplicates) == ("ok", 0, 2)
        assert snapshot() == before

    def test_only_new_entries_come_in_when_the_feed_changes(self, server, forum):
        feed = make_feed(forum, server.serve("/forum.rss", rss(), etag='"v1"'))
        feed_poll(feed=feed)
        server.serve("/forum.rss", rss(RSS_EXTRA_ITEM), etag='"v2"')

        result = feed_poll(feed=feed)

        assert (result.created, result.duplicates) == (1, 2)
        assert FeedbackItem.objects.get(external_id="forum-topic-103").author is None
        assert FeedbackItem.objects.count() == 3
        feed.refresh_from_db()
        assert feed.etag == '"v2"'


class TestAtom:
    def test_entries_map_id_content_author_language_and_dates(self, server, forum):
        url = server.serve("/comments.atom", ATOM, content_type="application/atom+xml")
        feed = make_feed(forum, url)

        assert feed_poll(feed=feed).created == 2

        german = FeedbackItem.objects.get(external_id="tag:blog.acme.example,2026:comment-501")
        assert german.body == (
            "Re: Neue Lieferzeiten\n\nDie neuen Lieferzeiten sind super,\n"
            "aber die App zeigt sie nicht an."
        )
        assert german.language == "de"
        assert german.posted_at == datetime(2026, 11, 3, 7, 10, tzinfo=UTC)  # published, in UTC
        assert german.author.handle == "Jonas Weber"
        assert german.author.url == "https://jonas.example/"
        # A relative link is resolved against the address the feed was served from.
        assert german.url == f"{server.base}/2026/11/lieferzeiten#comment-501"

        english = FeedbackItem.objects.get(external_id="tag:blog.acme.example,2026:comment-502")
        assert english.body == "Dark mode please\n\nPlease add a dark mode, my eyes hurt at night."
        assert english.language == "en"
        assert english.posted_at == datetime(2026, 11, 3, 8, 40, tzinfo=UTC)  # updated
        assert english.raw["summary"] == "Please add a dark mode, my eyes hurt at night."


class TestEntries:
    def test_entries_older_than_the_feed_are_history(self, server, forum):
        feed = make_feed(
            forum,
            server.serve("/forum.rss", rss(RSS_EXTRA_ITEM)),
            created_at=datetime(2026, 11, 3, 12, 0, tzinfo=UTC),
        )
        feed_poll(feed=feed)

        backfill = dict(FeedbackItem.objects.values_list("external_id", "backfill"))
        assert backfill == {
            "forum-topic-101": True,  # posted 2 Nov, before the feed was added
            "https://forum.acme.example/t/save20/102": True,
            "forum-topic-103": False,  # posted 4 Nov
        }

    def test_entry_without_id_uses_its_link_and_one_without_either_is_reported(self, server, forum):
        items = """<item><title>No guid here</title>
            <link>https://forum.acme.example/t/no-guid/104</link>
            <description>Linked but no guid.</description></item>
          <item><title>Nothing to identify me</title><description>Orphan</description></item>"""
        feed = make_feed(forum, server.serve("/forum.rss", rss(items)))

        result = feed_poll(feed=feed)

        assert (result.status, result.created, result.rejected) == ("ok", 3, 1)
        assert FeedbackItem.objects.filter(
            external_id="https://forum.acme.example/t/no-guid/104"
        ).exists()
        feed.refresh_from_db()
        assert feed.last_status == "ok"
        assert "1 of 4 entries rejected" in feed.last_error
        assert "Nothing to identify me" in feed.last_error

    def test_a_guid_that_is_not_a_url_is_kept_as_written(self, server, forum):
        # isPermaLink defaults to true, but the id must not depend on the feed's address.
        item = """<item><guid>4711</guid><description>Where is my parcel?</description></item>"""
        feed = make_feed(forum, server.serve("/forum.rss", rss(item)))

        feed_poll(feed=feed)

        assert FeedbackItem.objects.filter(external_id="4711").exists()

    def test_a_long_entry_is_shortened_not_rejected(self, server, forum, settings):
        settings.INGEST_MAX_BODY_CHARS = 200
        item = f"""<item><guid>long-1</guid><title>Long</title>
            <description>{"word " * 200}</description></item>"""
        feed = make_feed(forum, server.serve("/forum.rss", rss(item)))

        feed_poll(feed=feed)

        long = FeedbackItem.objects.get(external_id="long-1")
        assert len(long.body) <= 200 and long.body.endswith("…") and long.raw["truncated"]


class TestFailures:
    def test_http_error_is_logged_backed_off_and_retried_until_it_works(self, server, forum):
        url = server.serve("/forum.rss", rss(), status=500)
        feed = make_feed(forum, url, poll_interval=600)

        result = feed_poll(feed=feed)

        assert result.status == "error" and result.http_status == 500
        feed.refresh_from_db()
        assert feed.last_status == "error" and "HTTP 500" in feed.last_error
        assert feed.consecutive_failures == 1
        assert feed.next_poll_at == feed.last_polled_at + timedelta(seconds=1200)
        assert FeedbackItem.objects.count() == 0

        feed_poll(feed=feed)
        feed.refresh_from_db()
        assert feed.consecutive_failures == 2
        assert feed.next_poll_at == feed.last_polled_at + timedelta(seconds=2400)

        server.serve("/forum.rss", rss())
        assert feed_poll(feed=feed).created == 2
        feed.refresh_from_db()
        assert (feed.last_status, feed.consecutive_failures, feed.last_error) == ("ok", 0, "")
        assert feed.next_poll_at == feed.last_polled_at + timedelta(seconds=600)

    def test_backoff_is_capped(self, server, forum):
        feed = make_feed(forum, server.serve("/gone.rss", "", status=410), consecutive_failures=30)
        feed_poll(feed=feed)
        feed.refresh_from_db()
        assert feed.next_poll_at == feed.last_polled_at + feeds.MAX_BACKOFF

    def test_timeout_is_logged(self, server, forum, monkeypatch):
        monkeypatch.setattr(feeds, "READ_TIMEOUT", 0.2)
        feed = make_feed(forum, server.serve("/slow.rss", rss(), delay=1.0))

        result = feed_poll(feed=feed)

        assert result.status == "error" and result.error.startswith("Timed out")
        feed.refresh_from_db()
        assert feed.consecutive_failures == 1

    def test_unreachable_server_is_logged(self, forum):
        with socket.socket() as probe:  # a port nothing listens on
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        feed = make_feed(forum, f"http://127.0.0.1:{port}/feed.rss")

        result = feed_poll(feed=feed)

        assert result.status == "error" and "Could not fetch the feed" in result.error

    def test_a_page_that_is_not_a_feed_is_an_error(self, server, forum):
        feed = make_feed(forum, server.serve("/login", NOT_A_FEED, content_type="text/html"))

        result = feed_poll(feed=feed)

        assert result.status == "error" and "feed" in result.error
        feed.refresh_from_db()
        assert feed.last_status == "error" and feed.etag == ""

    def test_malformed_xml_without_entries_is_an_error(self, server, forum):
        feed = make_feed(forum, server.serve("/bad.rss", "<rss><channel><title>Cut sh"))

        result = feed_poll(feed=feed)

        assert result.status == "error" and "Not a readable feed" in result.error


METADATA_URL = "http://169.254.169.254/latest/meta-data/"


class TestAddressPolicy:
    """Feeds go through config.outbound: with OUTBOUND_ALLOW_PRIVATE_ADDRESSES off, private
    and loopback addresses are refused and the reason is recorded on the feed."""

    @pytest.fixture(autouse=True)
    def production(self, settings):
        settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES = False

    def test_a_feed_on_a_loopback_address_is_refused_unfetched(self, server, forum):
        feed = make_feed(forum, server.serve("/forum.rss", rss()))

        result = feed_poll(feed=feed)

        assert result.status == "error" and server.requests == []
        feed.refresh_from_db()
        assert feed.last_error == "Refused: 127.0.0.1 is a loopback address."
        assert feed.consecutive_failures == 1 and FeedbackItem.objects.count() == 0

    def test_a_feed_on_a_private_address_is_refused_before_connecting(self, forum, network):
        feed = make_feed(forum, "http://10.0.0.1/forum.rss")
        assert feed_poll(feed=feed).error == "Refused: 10.0.0.1 is a private address."
        assert network.connects == []

    def test_the_poller_connects_to_the_address_it_checked(self, server, forum, network):
        server.serve("/forum.rss", rss())
        # A second lookup, as a library connecting by name would make, would get loopback.
        network.answer("forum.acme.test", ["93.184.216.34"], ["127.0.0.1"])
        network.serve_as(server.httpd.server_address[1])  # the server plays 93.184.216.34
        feed = make_feed(forum, "http://forum.acme.test/forum.rss")

        result = feed_poll(feed=feed)

        assert (result.status, result.created) == ("ok", 2)
        assert network.lookups == ["forum.acme.test"]
        assert network.connects == [("93.184.216.34", 80)]
        assert server.hits("/forum.rss")[0]["Host"] == "forum.acme.test"

    def test_a_redirect_to_the_metadata_address_is_refused(self, server, forum, network):
        server.serve("/moved.rss", "", status=301, location=METADATA_URL)
        network.answer("forum.acme.test", ["93.184.216.34"])
        network.serve_as(server.httpd.server_address[1])
        feed = make_feed(forum, "http://forum.acme.test/moved.rss")

        result = feed_poll(feed=feed)

        assert result.status == "error"
        assert result.error == (
            f"Refused (redirected to {METADATA_URL}): 169.254.169.254 is a cloud metadata address."
        )
        assert network.connects == [("93.184.216.34", 80)]


class TestRedirects:
    def test_a_moved_feed_is_followed_and_its_links_resolve_against_the_new_address(
        self, server, forum, network
    ):
        port = server.httpd.server_address[1]
        server.serve("/comments.atom", ATOM)
        server.serve(
            "/old.atom", "", status=301, location=f"http://blog.acme.test:{port}/comments.atom"
        )
        network.answer("blog.acme.test", ["127.0.0.1"])  # allowed: tests run with the setting on

        result = feed_poll(feed=make_feed(forum, f"{server.base}/old.atom"))

        assert (result.status, result.created) == ("ok", 2)
        german = FeedbackItem.objects.get(external_id="tag:blog.acme.example,2026:comment-501")
        assert german.url == f"http://blog.acme.test:{port}/2026/11/lieferzeiten#comment-501"


class TestScheduling:
    def test_due_feeds_are_polled_and_a_broken_one_does_not_stop_the_others(
        self, server, forum, django_capture_on_commit_callbacks
    ):
        now = timezone.now()
        good = make_feed(forum, server.serve("/forum.rss", rss()))
        broken = make_feed(forum, server.serve("/broken.rss", "", status=503))
        atom = make_feed(forum, server.serve("/comments.atom", ATOM))
        later = make_feed(
            forum, server.serve("/later.rss", rss()), next_poll_at=now + timedelta(minutes=5)
        )
        paused = make_feed(forum, server.serve("/paused.rss", rss()), active=False)

        with django_capture_on_commit_callbacks(execute=True):
            claimed = poll_due_feeds()

        assert claimed == 3
        for feed in (good, broken, atom, later, paused):
            feed.refresh_from_db()
        assert good.last_status == "ok" and atom.last_status == "ok"
        assert broken.last_status == "error" and broken.consecutive_failures == 1
        assert later.last_polled_at is None and paused.last_polled_at is None
        assert not server.hits("/later.rss") and not server.hits("/paused.rss")
        assert FeedbackItem.objects.count() == 4
        # Routing ran after commit, like for any other post.
        assert not FeedbackItem.objects.filter(state="received").exists()

    def test_feeds_of_a_disabled_source_are_not_polled(self, server, forum):
        make_feed(forum, server.serve("/forum.rss", rss()))
        Source.objects.filter(pk=forum.pk).update(active=False)

        assert feeds_claim_due()[0] == []

    def test_a_feed_is_claimed_by_one_worker_at_a_time(self, server, forum):
        feed = make_feed(forum, server.serve("/forum.rss", rss()))

        ids, lease = feeds_claim_due()
        assert ids == [feed.pk]
        assert feeds_claim_due()[0] == []  # a second scheduler finds nothing due

        # Two deliveries of the same poll task: the first takes the feed, the second
        # finds the token gone.
        assert feed_claim(feed_id=feed.pk, lease=lease) is not None
        assert feed_claim(feed_id=feed.pk, lease=lease) is None
        assert poll_feed(feed.pk, lease.isoformat()) == "skipped"
        assert not server.hits("/forum.rss")

    def test_poll_task_polls_with_its_lease(self, server, forum):
        feed = make_feed(forum, server.serve("/forum.rss", rss()))
        _, lease = feeds_claim_due()

        assert poll_feed(feed.pk, lease.isoformat()) == "ok"
        # Once polled the feed is not due, so a late duplicate without a lease is skipped.
        assert poll_feed(feed.pk) == "skipped"
        assert len(server.hits("/forum.rss")) == 1

    def test_a_lease_left_by_a_dead_worker_expires(self, server, forum):
        feed = make_feed(forum, server.serve("/forum.rss", rss()))
        feeds_claim_due()  # claimed, then the worker died before polling

        assert feeds_claim_due()[0] == []
        later = timezone.now() + feeds.FEED_LEASE + timedelta(seconds=1)
        assert feeds_claim_due(now=later)[0] == [feed.pk]


class TestHtmlToText:
    def test_markup_scripts_and_entities(self):
        html = (
            "<h2>Bug</h2><p>It <em>crashes</em> &amp; burns&nbsp;&#8212; "
            "<a href='https://x'>see</a>.</p><style>p{}</style><script>x()</script>"
            "<p>Line one<br>line two</p><img src=a.png alt='screenshot'>"
        )
        assert html_to_text(html) == (
            "Bug\n\nIt crashes & burns — see.\n\nLine one\nline two\n\nscreenshot"
        )

    def test_broken_markup_and_plain_text(self):
        assert html_to_text("<p>unclosed <b>bold <p>next") == "unclosed bold\n\nnext"
        assert html_to_text("5 < 6 and 7 > 3") == "5 < 6 and 7 > 3"
        assert html_to_text("") == ""


class TestAdmin:
    def test_admin_lists_feeds_and_poll_now_makes_them_due(
        self, client, django_user_model, forum, django_capture_on_commit_callbacks, server
    ):
        admin = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
        client.force_login(admin)
        later = timezone.now() + timedelta(hours=1)
        feed = make_feed(forum, server.serve("/forum.rss", rss()), next_poll_at=later)

        assert client.get("/admin/feedback/feed/").status_code == 200
        assert client.get("/admin/feedback/feed/add/").status_code == 200
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(
                "/admin/feedback/feed/",
                {"action": "poll_now", "_selected_action": [feed.pk]},
                follow=True,
            )

        assert "will be polled within a minute" in response.content.decode()
        feed.refresh_from_db()
        assert feed.last_status == "ok"  # the scheduler ran at once (eager in tests)
        assert FeedbackItem.objects.count() == 2

    def test_changing_the_url_forgets_the_old_validators(self, client, django_user_model, forum):
        admin = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
        client.force_login(admin)
        feed = make_feed(forum, "https://old.example/feed", etag='"v1"', last_modified="x")

        response = client.post(
            f"/admin/feedback/feed/{feed.pk}/change/",
            {
                "source": forum.pk,
                "url": "https://new.example/feed",
                "active": "on",
                "poll_interval": 900,
            },
        )

        assert response.status_code == 302, response.content
        feed.refresh_from_db()
        assert (feed.url, feed.etag, feed.last_modified) == ("https://new.example/feed", "", "")
