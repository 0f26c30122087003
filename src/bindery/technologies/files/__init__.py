"""The ``files`` technology: product import and order/product export over local folders, HTTP(S), FTP(S), SFTP.

Entry points for the engine: :func:`bindery.technologies.files.product_import.import_products`,
:func:`bindery.technologies.files.exports.export_orders` and ``export_products``. See docs/files.md.
"""
