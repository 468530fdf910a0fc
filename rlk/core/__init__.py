"""The typed core: specs, interfaces, hook specs, the registry and run composition."""
