"""A locustfile against the sample service's /appointments/book: each user books 5 times a second.

sk-loadagent runs it with ``runner: locust`` (samples/vetclinic/plans/appointments-locust.plan.yaml), the
plan's ``vus`` as the user count and its ``duration`` as the run time; run it alone with:
``locust -f locustfile.py --headless -u 4 -t 4s --host http://127.0.0.1:8080``.
"""

from locust import HttpUser, constant_throughput, task

BOOKING = {
    "clinicId": "clinic-042",
    "petId": "pet-7781",
    "vetId": "vet-12",
    "slot": "2025-03-14T09:30:00Z",
    "reason": "vaccination",
}


class Receptionist(HttpUser):
    wait_time = constant_throughput(5)

    @task
    def book(self) -> None:
        self.client.post("/appointments/book", json=BOOKING)
