"""FCM HTTP v1: message rules, service-account credentials, the OAuth 2.0 token
exchange, error codes and the client (docs/fcm.md)."""
