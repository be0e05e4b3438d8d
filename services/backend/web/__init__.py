# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The backend's web pages and login (server-rendered, Jinja2 + vendored HTMX)."""
