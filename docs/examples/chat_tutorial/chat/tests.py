from django.test import SimpleTestCase

from django_hubs.testing import HubClient, HubInvocationError


class ChatHubTests(SimpleTestCase):
    async def test_a_message_reaches_everyone_in_the_lobby(self):
        async with HubClient("hubs/chat") as ada, HubClient("hubs/chat") as grace:
            await ada.invoke("SendMessage", "ada", "hello")

            for client in (ada, grace):
                message = await client.receive("ReceiveMessage")
                self.assertEqual(message.arguments, ["ada", "hello"])

    async def test_an_empty_message_is_refused(self):
        async with HubClient("hubs/chat") as ada:
            with self.assertRaisesMessage(HubInvocationError, "Say something."):
                await ada.invoke("SendMessage", "ada", "   ")
