"""The server's metrics in Prometheus's format (docs/operations.md "Metrics"): the series
(``series``), their bounded labels (``labels``), what is read at scrape (``collectors``), the
counting of every HTTP request (``http``) and the unauthenticated listener (``listener``)."""
