"""The learning-curve study: does the GFN1-xTB orbital target make potentials more data-efficient?
(README.md)"""
