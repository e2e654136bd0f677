import factory
from django.contrib.auth import get_user_model

from departments.models import Department, Membership
from feedback.models import Author, FeedbackItem, Source


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.django.Password("correct horse battery staple")


class SourceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Source
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"source-{n}")
    name = factory.LazyAttribute(lambda s: s.slug.title())
    kind = Source.Kind.WEB_FORM


class AuthorFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Author

    source = factory.SubFactory(SourceFactory)
    handle = factory.Sequence(lambda n: f"customer{n}")
    name = factory.Faker("name")


class FeedbackItemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = FeedbackItem

    source = factory.SubFactory(SourceFactory)
    external_id = factory.Sequence(lambda n: f"ext-{n}")
    author = factory.SubFactory(AuthorFactory, source=factory.SelfAttribute("..source"))
    body = "The app crashes when I upload a photo."


def member(user, slug: str, role: str = Membership.Role.AGENT) -> Membership:
    return Membership.objects.create(
        user=user, department=Department.objects.get(slug=slug), role=role
    )


def department_spike(slug: str, *, hours_ago: int, terms: list[str]):
    """A recorded spike for a department: 40 posts in the hour `hours_ago` hours back,
    against about 3 expected (z 21.4)."""
    from datetime import timedelta

    from django.utils import timezone

    from departments.models import Spike

    hour = timezone.now().replace(minute=0, second=0, microsecond=0) - timedelta(hours=hours_ago)
    return Spike.objects.create(
        dimension="department",
        key=slug,
        hour=hour,
        count=40,
        baseline=3.0,
        zscore=21.4,
        terms=terms,
    )


def case_in(slug: str, body: str = "My parcel is late", **fields):
    """A routed post with a model-routed case in the department `slug`."""
    from departments.models import Case

    item = FeedbackItemFactory(body=body, state="routed")
    return Case.objects.create(
        item=item, department=Department.objects.get(slug=slug), routed_by="model", **fields
    )
