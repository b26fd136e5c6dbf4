"""The Common Alerting Protocol (OASIS CAP 1.2), pure: read, match to stations, write.

    xml_safety   untrusted bytes to a validated element tree; CapError; the shipped XSD
    message      the CAP vocabulary and the frozen CapMessage, CapInfo, CapArea, CapCircle
    reading      bytes to a CapMessage
    areas        the stations inside a message's polygons, circles and geocodes
    writing      an alert (CapExport) to CAP 1.2 bytes

Nothing here reads a database, a file of the user's or the network: the edges do.
"""
