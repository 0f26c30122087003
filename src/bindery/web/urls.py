from django.contrib.auth.decorators import login_required
from django.urls import path

from bindery.web import (
    views,
    views_catalog,
    views_integration,
    views_people,
    views_privacy,
    views_sales,
    views_security,
    views_tokens,
)

app_name = "web"
urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.sign_in, name="login"),
    path("logout/", views.sign_out, name="logout"),
    path("account/password/", login_required(views.PasswordChangeView.as_view()), name="password_change"),
    path("settings/privacy/", views_privacy.privacy_home, name="privacy"),
    path("settings/privacy/export/", views_privacy.privacy_export, name="privacy_export"),
    path("settings/privacy/erase/", views_privacy.privacy_erase, name="privacy_erase"),
    path("settings/tokens/", views_tokens.token_list, name="tokens"),
    path("settings/security/", views_security.security_page, name="security"),
    path("settings/security/rules/<str:rule_id>/remove/", views_security.ip_rule_remove, name="ip_rule_remove"),
    path("settings/tokens/<str:token_id>/revoke/", views_tokens.token_revoke, name="token_revoke"),
    # Catalog
    path("catalog/products/", views_catalog.product_list, name="products"),
    path("catalog/products.csv", views_catalog.product_export, name="products_csv"),
    path("catalog/products/<uuid:product_id>/", views_catalog.product_detail, name="product_detail"),
    path("catalog/products/<uuid:product_id>/edit/", views_catalog.product_edit, name="product_edit"),
    path("catalog/products/<uuid:product_id>/stock/", views_catalog.product_set_stock, name="product_stock"),
    path("catalog/products/<uuid:product_id>/price/", views_catalog.product_set_price, name="product_price"),
    path("catalog/products/<uuid:product_id>/delete/", views_catalog.product_delete, name="product_delete"),
    path("catalog/categories/", views_catalog.category_list, name="categories"),
    path("catalog/categories.csv", views_catalog.category_export, name="categories_csv"),
    path("catalog/price-lists/", views_catalog.price_list_list, name="price_lists"),
    path("catalog/price-lists.csv", views_catalog.price_list_export, name="price_lists_csv"),
    path("catalog/warehouses/", views_catalog.warehouse_list, name="warehouses"),
    path("catalog/warehouses.csv", views_catalog.warehouse_export, name="warehouses_csv"),
    # Sales
    path("sales/customers/", views_sales.customer_list, name="customers"),
    path("sales/customers.csv", views_sales.customer_export, name="customers_csv"),
    path("sales/customers/<uuid:customer_id>/", views_sales.customer_detail, name="customer_detail"),
    path("sales/orders/", views_sales.order_list, name="orders"),
    path("sales/orders.csv", views_sales.order_export, name="orders_csv"),
    path("sales/orders/<uuid:order_id>/", views_sales.order_detail, name="order_detail"),
    path("sales/orders/<uuid:order_id>/mark/", views_sales.order_mark, name="order_mark"),
    path("sales/orders/<uuid:order_id>/shipments/", views_sales.order_add_shipment, name="order_add_shipment"),
    path("sales/shipments/", views_sales.shipment_list, name="shipments"),
    path("sales/shipments.csv", views_sales.shipment_export, name="shipments_csv"),
    # Integration
    path("integration/connectors/", views_integration.connector_list, name="connectors"),
    path("integration/connectors/<uuid:connector_id>/run/", views_integration.connector_run, name="connector_run"),
    path("integration/procedures/", views_integration.procedure_list, name="procedures"),
    path("integration/procedures/<uuid:procedure_id>/run/", views_integration.procedure_run, name="procedure_run"),
    path("integration/runs/", views_integration.run_list, name="runs"),
    path("integration/runs/<uuid:run_id>/", views_integration.run_detail, name="run_detail"),
    path("integration/runs/<uuid:run_id>/cancel/", views_integration.run_cancel, name="run_cancel"),
    # People
    path("settings/members/", views_people.member_list, name="members"),
    path("settings/members/<uuid:member_id>/role/", views_people.member_role, name="member_role"),
    path("settings/members/<uuid:member_id>/remove/", views_people.member_remove, name="member_remove"),
]
