import io

import pytest
from django.core.management import CommandError, call_command

from feedback.models import ApiKey, Source
from feedback.principals import apikey_authenticate

pytestmark = pytest.mark.django_db


def run(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command("create_api_key", *args, stdout=out, stderr=err)
    return out.getvalue().strip(), err.getvalue()


def test_create_api_key_prints_the_key_once_and_stores_only_a_digest(source):
    raw, note = run("--source", "web", "--scopes", "ingest,read")
    key = ApiKey.objects.get()
    assert raw.startswith("sb_") and raw not in key.digest and key.prefix == raw[:10]
    assert key.scopes == ["ingest", "read"]
    assert "not shown again" in note
    assert apikey_authenticate(raw_key=raw).source_id == source.pk


def test_unknown_source_is_refused_unless_a_kind_is_given(db):
    with pytest.raises(CommandError, match="Unknown source 'shop'"):
        run("--source", "shop")
    raw, _ = run("--source", "shop", "--kind", "web_form", "--scopes", "ingest")
    assert Source.objects.get(slug="shop").kind == "web_form" and raw


def test_unknown_scope_is_refused(source):
    with pytest.raises(CommandError, match="Unknown scope"):
        run("--source", "web", "--scopes", "ingest,admin")
    assert not ApiKey.objects.exists()


def test_editing_or_deleting_a_key_takes_effect_on_the_next_request(source):
    """The principal is cached for a minute; an edit in the admin (a save) or a delete must
    not leave the old rights usable for that minute."""
    raw, _ = run("--source", "web", "--scopes", "ingest,read")
    assert apikey_authenticate(raw_key=raw).scopes == ("ingest", "read")  # now cached
    key = ApiKey.objects.get()
    key.scopes = ["read"]
    key.save()
    assert apikey_authenticate(raw_key=raw).scopes == ("read",)
    key.delete()
    assert apikey_authenticate(raw_key=raw) is None
