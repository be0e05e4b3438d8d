# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The alert engine: rules (pure), evaluation and the outbox (database), Telegram delivery."""
