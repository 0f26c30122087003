"""The ``web_server`` technology: an FTP/FTPS/SFTP (or local) folder where Bindery publishes files.

Product feeds and order files are written by the ``files`` exporters and uploaded atomically
(temporary name, then rename) under timestamped names. Another connector can name a web server
node as its output node to publish there.
"""

from bindery.integration.registry import Technology
from bindery.technologies.files import ORDER_EXPORT, PRODUCT_EXPORT
from bindery.technologies.files.connectors import FilesNodeCredentials, WebServerNodeSettings

TECHNOLOGY = Technology(
    key="web_server",
    name="Web server (FTP/FTPS/SFTP publishing)",
    settings_schema=WebServerNodeSettings,
    credentials_schema=FilesNodeCredentials,
    description="Publish product feeds and order files atomically under timestamped names.",
    connector_types=(ORDER_EXPORT, PRODUCT_EXPORT),
)
