# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The container exporter daemon (issue 12): statspout, mini-collector and metrics-sender's container
heartbeats in one process on the containers core."""
