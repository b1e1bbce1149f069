"""Media: uploads sniffed against an allowlist, stored locally or in S3, served by presigned URLs."""
