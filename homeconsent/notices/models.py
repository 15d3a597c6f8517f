"""The patient's notices (お知らせ). A notice is an access-log row worth telling the patient about
(services.py says which); only the patient's acknowledgement is stored here, so a notice exists
exactly when its row does — written in the transaction of the read, nothing to forget."""

from django.db import models


class NoticeAcknowledgement(models.Model):
    person = models.ForeignKey(
        "registry.Person",
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,  # the unique (person, event) index serves lookups by person
    )
    # No database constraint: the access log is partitioned by month on PostgreSQL, where nothing can
    # reference its id alone (audit/partitions.py). The log never deletes a row but whole expired months.
    event = models.ForeignKey(
        "audit.AccessEvent", on_delete=models.PROTECT, related_name="+", db_constraint=False
    )
    acknowledged_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["person", "event"], name="notice_acknowledged_once")]

    def __str__(self):
        return f"notice {self.event_id} acknowledged by {self.person_id}"
