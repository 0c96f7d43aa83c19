"""Tests in a row, in the order pytest-django runs them: nothing one writes, from any thread, is left for the next.

Copied into the example project as ``test_leaks.py`` by ``tests/test_testing.py``.
"""

import pytest
from django.contrib.auth import get_user_model
from example.models import Note

from django_hubs.testing import HubClient

pytestmark = pytest.mark.django_hubs


@pytest.fixture
def grace(django_user_model):
    """A sync fixture: written on the test's own thread and connection."""
    return django_user_model.objects.create(username="grace")


async def test_first_writes_from_four_threads(grace):
    ada = await get_user_model().objects.acreate(username="ada")  # the async ORM: asgiref's thread
    async with HubClient("hubs/chat", user=ada) as client:
        assert await client.invoke("Users") == ["grace", "ada"]  # the hub's worker thread sees both
        await client.invoke("SaveNote", "first")
        await client.invoke("SaveNoteInPool", "pooled")
        assert await client.invoke("Notes") == ["first", "pooled"]
    assert await Note.objects.acount() == 2


async def test_second_sees_nothing_of_the_first(grace):
    async with HubClient("hubs/chat") as client:
        assert await client.invoke("Notes") == []
        assert await client.invoke("Users") == ["grace"]
        await client.invoke("SaveNote", "second")
        await client.invoke("SaveNoteInPool", "second, pooled")
    assert await get_user_model().objects.acount() == 1


def test_a_sync_test_after_them_sees_nothing():
    assert Note.objects.count() == 0
    assert get_user_model().objects.count() == 0
