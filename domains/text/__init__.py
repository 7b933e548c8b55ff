"""The text domain: an article revised against a rubric (domains/text/domain.py says how it maps onto the loop)."""
