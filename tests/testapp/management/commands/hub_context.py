"""Drive a hub from a process that holds no connections, as a worker or a cron job would."""

from __future__ import annotations

import json

from asgiref.sync import async_to_sync
from django.core.management.base import BaseCommand

from django_hubs import get_hub_context
from tests.testapp.hubs import TestHub


class Command(BaseCommand):
    help = "Send to a hub's clients or change groups from outside any server process."

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["all", "group", "add-to-group", "invoke", "abort"])
        parser.add_argument("values", nargs="*")

    def handle(self, *args, **options):
        context = get_hub_context(TestHub)
        action, values = options["action"], options["values"]
        if action == "all":
            async_to_sync(context.clients.all.send)("Receive", "command", values[0])
        elif action == "group":
            async_to_sync(context.clients.group(values[0]).send)("Receive", "command", values[1])
        elif action == "add-to-group":
            async_to_sync(context.groups.add)(values[0], values[1])
        elif action == "abort":
            async_to_sync(context.abort)(values[0])
        elif action == "invoke":
            result = async_to_sync(context.clients.client(values[0]).invoke)("Ask", values[1], timeout=5)
            self.stdout.write(json.dumps({"result": result}))
