from datetime import timedelta

import factory
from django.utils import timezone

from accounts.models import User
from accounts.roles import Role
from accounts.services import role_grant
from posts.markdown import render_comment_markdown, render_markdown
from posts.models import Comment, CommentStatus, Post, PostStatus, Tag


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    display_name = factory.LazyAttribute(lambda u: u.username.title())
    password = factory.django.Password("correct horse battery staple")

    @factory.post_generation
    def role(self, create, extracted, **kwargs):
        if create:
            role_grant(user=self, role=extracted or Role.READER)


class TagFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tag
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Topic {n}")
    slug = factory.LazyAttribute(lambda t: t.name.lower().replace(" ", "-"))


class PostFactory(factory.django.DjangoModelFactory):
    """A post saved directly (no revision); use posts.services to exercise the real flow."""

    class Meta:
        model = Post
        skip_postgeneration_save = True

    title = factory.Sequence(lambda n: f"Post number {n}")
    slug = factory.Sequence(lambda n: f"post-number-{n}")
    author = factory.SubFactory(UserFactory, role=Role.AUTHOR)
    body = factory.Faker("paragraph", nb_sentences=6)
    body_html = factory.LazyAttribute(lambda p: render_markdown(p.body))
    excerpt = factory.Faker("sentence")
    status = PostStatus.PUBLISHED
    published_at = factory.LazyFunction(lambda: timezone.now() - timedelta(hours=1))

    @factory.post_generation
    def tags(self, create, extracted, **kwargs):
        if create and extracted:
            self.tags.set(extracted)


class CommentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Comment

    post = factory.SubFactory(PostFactory)
    author = factory.SubFactory(UserFactory)
    body = factory.Faker("sentence")
    body_html = factory.LazyAttribute(lambda c: render_comment_markdown(c.body))
    status = CommentStatus.APPROVED
