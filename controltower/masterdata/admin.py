from django.contrib import admin

from controltower.masterdata.models import Plant, Supplier


@admin.register(Plant, Supplier)
class PartnerAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "region", "time_zone", "active"]
    list_filter = ["region", "active"]
    search_fields = ["code", "name"]
