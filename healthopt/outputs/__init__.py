"""Outputs: tables, Folium maps, HTML reports and offline assets."""
