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
