"""The link between an authentication app's subject and a registry person."""

from django.db import models


class IdentityLink(models.Model):
    """(issuer, pairwise sub) -> person: found once by the four attributes, then used on later visits.

    The provider's sub is pairwise (stable for one person at this relying party only), so it names the
    person to nobody else. Removing a link (the patient, on the portal) only means the next app proof
    matches the four attributes again.
    """

    issuer = models.CharField(max_length=300)
    subject = models.CharField(max_length=255)
    person = models.ForeignKey("registry.Person", on_delete=models.CASCADE, related_name="identity_links")
    created_at = models.DateTimeField()
    last_used_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["issuer", "subject"], name="identity_link_one_per_subject")
        ]

    def __str__(self):
        return f"link of person {self.person_id} at {self.issuer}"
