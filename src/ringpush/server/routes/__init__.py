"""The HTTP API, one router per resource: apps (operator), devices (the app on a
device), calls, pushes and the delivery log (the calling service), health."""
