"""What the object store keeps for modelbay itself, out of users' reach.

INTERNAL_BUCKET holds the registry's blobs (store/metadata/images.py: keys under `<region>/`) and the directories
of instances on a Ray cluster's nodes on their way to and from the server (runtime/instance_mirror.py: keys under
`cluster/`, never a region). The S3 API does not serve it (services/s3.py): ListBuckets leaves it out, CreateBucket
answers that its name is taken, and every other operation naming it answers NoSuchBucket.
"""

from __future__ import annotations

INTERNAL_BUCKET = "modelbay-registry"  # its name since the registry came first: renaming it would orphan its blobs
