# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The OneFS exporter daemon: a gostats replacement on the OneFS core (docs/onefs.md, "The exporter")."""
