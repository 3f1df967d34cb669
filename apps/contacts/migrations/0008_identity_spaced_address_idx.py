"""Contact search by a name or a phone number typed with spaces (issue 14): a partial trigram index
of the few addresses that contain whitespace.

Addresses are normalised (E.164, lower-cased email, account ids) and almost never contain
whitespace; a site's user id may. A query with whitespace ("Lena Kowalski", "(415) 555-0202") can
only be inside an address that has some, so the search asks for `address ~ '\\s'` too and reads
this index, nearly empty, instead of the whole address index: there, the trigrams of "LENA" and
"KOWALSKI" matched 800 email addresses at 1.2M identities, each then read and refused (11 ms; 0.1
ms now). apps.api.selectors._identity_matches writes the same condition.

PostgreSQL only, built with CREATE INDEX CONCURRENTLY (writes go on while it builds: 1.5 s at
1.2M identities on a 2-core machine); SQLite keeps scanning.
"""

from django.contrib.postgres.indexes import GinIndex, OpClass
from django.db import migrations
from django.db.models import Q
from django.db.models.functions import Upper

from apps.core.migration_ops import AddPostgresIndexConcurrently


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("contacts", "0007_name_words"),
    ]

    operations = [
        AddPostgresIndexConcurrently(
            model_name="identity",
            index=GinIndex(
                OpClass(Upper("address"), name="gin_trgm_ops"),
                name="identity_address_spaced_trgm_idx",
                condition=Q(address__regex=r"\s"),
            ),
        ),
    ]
