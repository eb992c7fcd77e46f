OK_FORMAT = True

test = {   'name': 'q2',
    'points': None,
    'suites': [   {   'cases': [   {   'code': '>>> fusion = GatedFusion(IN_DIMS, OUT_DIM)\n'
                                               '>>> gate = fusion.gate(test_features)\n'
                                               '>>> assert gate.shape == (1000, OUT_DIM) and gate.min() > 0 and (gate.max() < 1)\n'
                                               '>>> assert fusion(test_features).shape == (1000, OUT_DIM)\n',
                                       'hidden': False,
                                       'locked': False,
                                       'points': 1}],
                      'scored': True,
                      'setup': '',
                      'teardown': '',
                      'type': 'doctest'}]}
